// The call-taker page's logic, without the page: what it sends and how it reads answers.
// Kept free of the DOM so that tests/web/transfer.test.mjs runs it under Node.

const TERMINAL = new Set(["ended", "abandoned", "returned"]);

/** The callback number as E.164, from what a call-taker types; null when left empty. */
export function callbackE164(text) {
  const typed = (text || "").trim();
  if (!typed) return null;
  const digits = typed.replace(/\D/g, "");
  if (typed.startsWith("+") && digits.length >= 8 && digits.length <= 15) return "+" + digits;
  if (digits.length === 10) return "+1" + digits;
  if (digits.length === 11 && digits.startsWith("1")) return "+" + digits;
  throw new Error("The callback number needs 10 digits (or + and the country code).");
}

function number(text, name) {
  const value = Number(String(text || "").trim());
  if (String(text || "").trim() === "" || !Number.isFinite(value)) {
    throw new Error(`${name} must be a number.`);
  }
  return value;
}

/** The API's location object for the chosen kind, or null to route by the PSAP's area. */
export function locationFrom(fields) {
  switch (fields.locationKind) {
    case "point": {
      const point = {
        lat: number(fields.lat, "Latitude"),
        lon: number(fields.lon, "Longitude"),
      };
      if (String(fields.radius || "").trim() !== "") {
        point.radius_m = number(fields.radius, "Uncertainty");
      }
      return point;
    }
    case "address": {
      const civic = {};
      for (const name of ["house_number", "street", "city", "county", "state", "zip"]) {
        const value = String(fields[name] || "").trim();
        if (value) civic[name] = name === "state" ? value.toUpperCase() : value;
      }
      return { civic };
    }
    case "zip":
      return { zip: String(fields.zip || "").trim() };
    case "area":
      return null;
    default:
      throw new Error("Choose how the caller's location is given.");
  }
}

/** The body of POST /api/v1/transfers. Throws an Error the page shows as is. */
export function requestBody(fields) {
  if (!fields.risk) throw new Error("Choose the risk level from your triage.");
  if (!fields.callType) throw new Error("Choose the call type.");
  const body = {
    risk: fields.risk,
    call_type: fields.callType,
    consent: Boolean(fields.consent),
    location: locationFrom(fields),
    veteran: Boolean(fields.veteran),
  };
  const callback = callbackE164(fields.callback);
  if (callback) body.callback_number = callback;
  if (fields.language) body.language = fields.language;
  const summary = String(fields.summary || "").trim();
  if (summary) body.summary = summary;
  return body;
}

/** One line for an answer that is not a registered transfer (a refusal or an error). */
export function problemText(status, body) {
  if (body && body.eligible === false) {
    // The gateway's refusals already start with "not eligible: ".
    const reason = String(body.message || body.reason).replace(/^not eligible:\s*/i, "");
    return `Not eligible: ${reason}`;
  }
  if (status === 401) return "The PSAP key was not accepted.";
  if (body && body.message) {
    return body.field ? `${body.message} (${body.field})` : body.message;
  }
  return `The gateway answered ${status}.`;
}

/** Whether a transfer's status can still change (the page stops following it then). */
export function finished(view) {
  return TERMINAL.has(view.status) || view.outcome === "handed-off";
}

/** What the call-taker is told about a transfer they follow. */
export function statusLine(view) {
  if (view.outcome === "handed-off") return "988 is connected. You may leave the call.";
  if (view.status === "pending") {
    return "Registered: conference the caller to the 988 line now.";
  }
  if (view.status === "dialing") {
    const center = view.current_center_id ? ` (${view.current_center_id})` : "";
    return `Calling the 988 center${center}. Stay on the line.`;
  }
  if (view.status === "connected") {
    return "A counselor accepted and is joining. Stay on the line until told.";
  }
  if (view.status === "returned") {
    return "988 could not be reached: the caller stays with 911.";
  }
  if (view.status === "abandoned") return "The caller hung up before 988 answered.";
  if (view.status === "ended") return "The call has ended.";
  return `Status: ${view.status}`;
}
