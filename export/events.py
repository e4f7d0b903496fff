"""Gesture events: the host's copy of the rule firmware/app.py follows (docs/program.md).

A gesture starts when it is the predicted class (k >= 0: at or above the
model's threshold) and a different gesture, or none, was active; it stops
when another starts or a prediction is unknown (k = -1). No smoothing: the
app predicts every 250 ms on a 1 s window that already overlaps the last
three, so a gesture held for a second gives several agreeing predictions in
a row, and extra smoothing would add latency to every start (CreateAI's own
runner also raises events on the raw prediction changes).
"""

from __future__ import annotations


def events(classes_k, confidences) -> list[dict]:
    """The events a sequence of predictions raises: per event {"at": index of the
    prediction, "event": "start" | "stop", "k": class index, "conf": confidence
    (start only)}, in the order the device raises them (a stop before a start)."""
    out, active = [], -1
    for i, (k, c) in enumerate(zip(classes_k, confidences)):
        k = int(k)
        if k != active:
            if active >= 0:
                out.append({"at": i, "event": "stop", "k": active})
            if k >= 0:
                out.append({"at": i, "event": "start", "k": k, "conf": int(c)})
            active = k
    return out


def predicted(qm, windows) -> tuple[list[int], list[int]]:
    """(k, confidence) per window as the device computes them: the reference's class,
    or -1 below the model's threshold."""
    from microbit_nn.export import reference

    k, conf = reference.predict(qm, windows)
    return [int(a) if c >= qm.threshold else -1 for a, c in zip(k, conf)], [int(c) for c in conf]
