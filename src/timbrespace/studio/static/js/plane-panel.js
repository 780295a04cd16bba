// The "Plane" panel (interpolation plane): four corner sounds, and a puck (drag or arrow keys) that
// renders the bilinear mix at its position (/api/plane).

import { Throttle } from "./api.js";
import { audioOptions, request } from "./history.js";
import { panelMessage } from "./messages.js";
import { fillSlot, pickCurrent } from "./slots.js";
import { $, S, newGesture } from "./state.js";

const plane = { xy: [0.5, 0.5], gesture: 0, dragging: false };

const planeThrottle = new Throttle((body, meta) => request("/api/plane", body, meta));

/** Render the puck's position, once all four corners hold a sound. */
function requestPlane(gesture) {
  if (!S.corners.every(Boolean)) {
    const missing = S.corners.filter((c) => !c).length;
    panelMessage("plane", `plane: put a sound on all four corners (${missing} empty)`, "warn");
    return;
  }
  const [x, y] = plane.xy;
  planeThrottle.push(
    { corners: S.corners.map((c) => c.ref), xy: [x, y], ...audioOptions() },
    { label: `plane (${x.toFixed(2)}, ${y.toFixed(2)})`, moved: [], reference: "nearest", gesture, area: "plane" },
  );
}

function placePuck() {
  const [x, y] = plane.xy;
  const puck = $("puck");
  puck.style.left = `${x * 100}%`;
  puck.style.top = `${(1 - y) * 100}%`;
  puck.setAttribute("aria-valuenow", x.toFixed(2));
  puck.setAttribute("aria-valuetext", `x ${x.toFixed(2)}, y ${y.toFixed(2)}`);
}

function planeFromPointer(e) {
  const rect = $("plane").getBoundingClientRect();
  const x = Math.min(1, Math.max(0, (e.clientX - rect.left) / rect.width));
  const y = Math.min(1, Math.max(0, 1 - (e.clientY - rect.top) / rect.height));
  plane.xy = [x, y];
  placePuck();
}

for (const button of document.querySelectorAll("[data-set-corner]")) {
  button.addEventListener("click", () => {
    const picked = pickCurrent();
    if (!picked) return;
    const i = Number(button.dataset.setCorner);
    S.corners[i] = picked;
    fillSlot(button.parentElement, picked.label);
    // all four: render; else a message already shown counts the corners still empty
    if (S.corners.every(Boolean) || !document.querySelector("[data-message='plane']").hidden) {
      requestPlane(newGesture());
    }
  });
}

$("plane").addEventListener("pointerdown", (e) => {
  if (e.button !== 0) return;
  plane.dragging = true;
  plane.gesture = newGesture();
  $("plane").setPointerCapture(e.pointerId);
  planeFromPointer(e);
  $("puck").focus({ preventScroll: true });
  requestPlane(plane.gesture);
});
$("plane").addEventListener("pointermove", (e) => {
  if (!plane.dragging) return;
  planeFromPointer(e);
  requestPlane(plane.gesture);
});
for (const type of ["pointerup", "pointercancel"]) {
  $("plane").addEventListener(type, (e) => {
    if (!plane.dragging) return;
    plane.dragging = false;
    if ($("plane").hasPointerCapture(e.pointerId)) $("plane").releasePointerCapture(e.pointerId);
  });
}
$("puck").addEventListener("keydown", (e) => {
  const steps = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };
  if (!(e.key in steps)) return;
  e.preventDefault();
  const step = e.shiftKey ? 0.01 : 0.05;
  const [dx, dy] = steps[e.key];
  const clamp = (v) => Math.min(1, Math.max(0, Math.round(v * 100) / 100));
  plane.xy = [clamp(plane.xy[0] + dx * step), clamp(plane.xy[1] + dy * step)];
  placePuck();
  requestPlane(newGesture());
});

placePuck();
