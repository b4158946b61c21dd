"""A tiny app for test_serving: its webhook schedules slow work for after its answer."""

from __future__ import annotations

import os
import time

from flask import Flask

from gateway.web.afterwards import AfterResponse

app = Flask(__name__)
after = AfterResponse(threads=1)


@app.post("/hook")
def hook() -> str:
    def send() -> None:
        time.sleep(1.0)  # a slow REST request to Twilio
        with open(os.environ["AFTER_MARK"], "w", encoding="utf-8") as mark:
            mark.write("sent")

    after(send)
    return "<Response/>"
