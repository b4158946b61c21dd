// The call-taker page: register a transfer through the PSAP API, then follow it.
import { finished, problemText, requestBody, statusLine } from "./transfer.mjs";

const API = "/api/v1";
const KEY = "g988-psap-key"; // sessionStorage: gone when the browser tab closes
const POLL_MS = 2000;
// A transfer nobody conferences stays pending; the page stops asking after this long.
const FOLLOW_FOR_MS = 30 * 60 * 1000;
const UNREACHABLE = "The gateway could not be reached. Keep the caller with 911.";

const $ = (id) => document.getElementById(id);
let following = null;

function key() {
  return sessionStorage.getItem(KEY) || "";
}

async function api(method, path, body) {
  const response = await fetch(API + path, {
    method,
    headers: {
      Authorization: `Bearer ${key()}`,
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  return { status: response.status, data };
}

function show(id, text) {
  const element = $(id);
  element.textContent = text;
  element.hidden = !text;
}

async function loadProfile() {
  let answer;
  try {
    answer = await api("GET", "/psap");
  } catch {
    show("key-problem", UNREACHABLE);
    return;
  }
  const { status, data } = answer;
  if (status !== 200) {
    show("key-problem", problemText(status, data));
    return;
  }
  show("key-problem", "");
  $("psap-name").textContent = data.psap.name;
  $("conference-number").textContent = data.conference_number;
  const select = $("call-type");
  select.replaceChildren(new Option("Choose…", ""));
  for (const [callType, risks] of Object.entries(data.call_types)) {
    select.append(new Option(`${callType} (${risks.join(", ")})`, callType));
  }
  if (select.options.length === 1) {
    show("key-problem", "Your center has no transfer agreement with a 988 center yet.");
  }
  $("key-form").hidden = true;
  $("transfer-form").hidden = false;
}

function fields() {
  const form = $("transfer-form");
  const value = (name) => form.elements[name].value;
  return {
    risk: value("risk"),
    callType: value("call_type"),
    consent: form.elements.consent.checked,
    veteran: form.elements.veteran.checked,
    language: value("language"),
    callback: value("callback"),
    summary: value("summary"),
    locationKind: form.querySelector("input[name=location_kind]:checked")?.value,
    lat: value("lat"),
    lon: value("lon"),
    radius: value("radius"),
    house_number: value("house_number"),
    street: value("street"),
    city: value("city"),
    county: value("county"),
    state: value("state"),
    zip: value(form.elements.location_kind.value === "zip" ? "zip_only" : "zip"),
  };
}

function showTransfer(created) {
  $("code").textContent = created.transfer_code;
  $("center").textContent = created.center.name;
  $("explanation").textContent = created.explanation;
  $("dial-number").textContent = created.conference_number;
  $("result").hidden = false;
}

function setStatus(text) {
  // The live region: written only when it changes, so a screen reader says it once.
  if ($("status").textContent !== text) $("status").textContent = text;
}

function showStatus(view) {
  setStatus(statusLine(view));
  const timeline = $("timeline");
  timeline.replaceChildren(
    ...view.timeline.map((step) => {
      const item = document.createElement("li");
      const at = new Date(step.at).toLocaleTimeString();
      item.textContent = `${at} ${step.kind.replaceAll("_", " ")}`;
      return item;
    }),
  );
}

async function follow(statusUrl) {
  const path = statusUrl.replace(API, "");
  const mine = Symbol("follow");
  const until = Date.now() + FOLLOW_FOR_MS;
  following = mine;
  while (following === mine) {
    if (Date.now() > until) {
      setStatus("No longer followed here: the transfer was never connected from this page.");
      return;
    }
    try {
      const { status, data } = await api("GET", path);
      if (status === 200) {
        showStatus(data);
        if (finished(data)) return;
      } else if (status === 404) {
        setStatus("This transfer has expired.");
        return;
      } else {
        setStatus(problemText(status, data));
      }
    } catch {
      // Keep asking: the next answer replaces this line.
      setStatus(UNREACHABLE);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function submitTransfer(event) {
  event.preventDefault();
  show("problem", "");
  let body;
  try {
    body = requestBody(fields());
  } catch (error) {
    show("problem", error.message);
    return;
  }
  $("submit").disabled = true;
  try {
    const { status, data } = await api("POST", "/transfers", body);
    if (status !== 201) {
      show("problem", problemText(status, data));
      return;
    }
    showTransfer(data);
    setStatus("");
    $("timeline").replaceChildren();
    // The next caller must not inherit this one's details, consent above all.
    $("transfer-form").reset();
    chooseLocation();
    follow(data.status_url);
  } catch {
    show("problem", UNREACHABLE);
  } finally {
    $("submit").disabled = false;
  }
}

function chooseLocation() {
  const kind = $("transfer-form").elements.location_kind.value;
  for (const section of document.querySelectorAll("[data-location]")) {
    section.hidden = section.dataset.location !== kind;
  }
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY, $("psap-key").value.trim());
  $("psap-key").value = "";
  loadProfile();
});
$("forget-key").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  following = null;
  window.location.reload();
});
$("transfer-form").addEventListener("submit", submitTransfer);
$("transfer-form").addEventListener("change", chooseLocation);
chooseLocation();
if (key()) loadProfile();
