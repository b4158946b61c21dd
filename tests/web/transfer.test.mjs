// The call-taker page's logic (gateway/static/call-taker/transfer.mjs), run with `node --test`.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  callbackE164,
  finished,
  locationFrom,
  problemText,
  requestBody,
  statusLine,
} from "../../gateway/static/call-taker/transfer.mjs";

const FIELDS = {
  risk: "mild",
  callType: "emotional-distress",
  consent: true,
  veteran: false,
  language: "",
  callback: "(816) 555-0123",
  summary: "  Overwhelmed after losing a job.  ",
  locationKind: "point",
  lat: "39.1141",
  lon: "-94.6275",
  radius: "50",
};

test("a callback number typed the usual ways becomes E.164, and none stays none", () => {
  assert.equal(callbackE164("(816) 555-0123"), "+18165550123");
  assert.equal(callbackE164("1 816 555 0123"), "+18165550123");
  assert.equal(callbackE164("+44 20 7946 0123"), "+442079460123");
  assert.equal(callbackE164("   "), null);
  assert.throws(() => callbackE164("555-0123"), /10 digits/);
});

test("each kind of location becomes the API's location object", () => {
  assert.deepEqual(locationFrom(FIELDS), { lat: 39.1141, lon: -94.6275, radius_m: 50 });
  assert.deepEqual(locationFrom({ ...FIELDS, radius: "" }), { lat: 39.1141, lon: -94.6275 });
  assert.deepEqual(
    locationFrom({ locationKind: "address", street: " N 7th St ", state: "ks", county: "Wyandotte" }),
    { civic: { street: "N 7th St", county: "Wyandotte", state: "KS" } },
  );
  assert.deepEqual(locationFrom({ locationKind: "zip", zip: "66101 " }), { zip: "66101" });
  assert.equal(locationFrom({ locationKind: "area" }), null);
  assert.throws(() => locationFrom({ ...FIELDS, lat: "north" }), /Latitude must be a number/);
  assert.throws(() => locationFrom({ ...FIELDS, lon: "" }), /Longitude must be a number/);
});

test("the request carries the triage, consent and trimmed summary, leaving out what is empty", () => {
  assert.deepEqual(requestBody(FIELDS), {
    risk: "mild",
    call_type: "emotional-distress",
    consent: true,
    location: { lat: 39.1141, lon: -94.6275, radius_m: 50 },
    veteran: false,
    callback_number: "+18165550123",
    summary: "Overwhelmed after losing a job.",
  });
  const bare = requestBody({ ...FIELDS, callback: "", summary: "", language: "es" });
  assert.equal("callback_number" in bare, false);
  assert.equal("summary" in bare, false);
  assert.equal(bare.language, "es");
  assert.throws(() => requestBody({ ...FIELDS, risk: "" }), /risk level/);
  assert.throws(() => requestBody({ ...FIELDS, callType: "" }), /call type/);
});

test("a refusal, a bad key and a bad field each read as one clear line", () => {
  const refusal = { eligible: false, reason: "higher-risk", message: "not eligible: keep with 911" };
  assert.equal(problemText(422, refusal), "Not eligible: keep with 911");
  assert.equal(problemText(422, { eligible: false, reason: "no-consent" }), "Not eligible: no-consent");
  assert.equal(problemText(401, { error: "unauthorized" }), "The PSAP key was not accepted.");
  const field = { error: "invalid-field", message: "must be E.164", field: "callback_number" };
  assert.equal(problemText(400, field), "must be E.164 (callback_number)");
  assert.equal(problemText(502, null), "The gateway answered 502.");
});

test("the page follows a transfer until 988 is connected or the caller stays with 911", () => {
  const dialing = { status: "dialing", outcome: null, current_center_id: "kc-kansas" };
  assert.equal(finished(dialing), false);
  assert.match(statusLine(dialing), /Calling the 988 center \(kc-kansas\)\. Stay on the line/);
  const handedOff = { status: "connected", outcome: "handed-off" };
  assert.equal(finished(handedOff), true);
  assert.equal(statusLine(handedOff), "988 is connected. You may leave the call.");
  const returned = { status: "returned", outcome: "returned:no-center-answered" };
  assert.equal(finished(returned), true);
  assert.match(statusLine(returned), /stays with 911/);
});
