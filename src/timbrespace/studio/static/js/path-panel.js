// The latent path editor (path models): a breakpoint curve for one latent dimension, set or
// added over time, plus free-form ops, applied to the current sound by /api/path.

import { CurveEditor } from "./curve.js";
import { audioOptions, request } from "./history.js";
import { pickCurrent } from "./slots.js";
import { $, on } from "./state.js";

const pathCurve = new CurveEditor({
  canvas: $("path-curve"),
  yMin: -3,
  yMax: 3,
  guides: [[0, "0"]],
  mode: "points",
  points: [
    [0, 0],
    [1, 0],
  ],
  onChange: () => {},
});

/** The ops of the form: the free-form ones, then `curve:<dim>(=|+=)t:v,…` from the editor. */
function pathOps() {
  const dim = Number($("path-dim").value);
  const op = $("path-mode").value === "add" ? "+=" : "=";
  const points = pathCurve
    .value()
    .map(([t, v]) => `${t.toFixed(3)}:${v.toFixed(3)}`)
    .join(",");
  const extra = $("path-ops")
    .value.split(/[;\s]+|,(?=\s*[a-z])/i)
    .map((s) => s.trim())
    .filter(Boolean);
  return [...extra, `curve:${dim}${op}${points}`];
}

$("path-apply").addEventListener("click", () => {
  const picked = pickCurrent();
  if (!picked) return;
  const ops = pathOps();
  request(
    "/api/path",
    { start: picked.ref, ops, seed: 0, ...audioOptions() },
    { label: `path ${ops.join(" ")}`, moved: [], reference: "nearest" },
  );
});

on("info", (info) => {
  if (!info.path_model) return;
  $("path-editor").hidden = false;
  const dims = $("path-dim");
  for (let i = 0; i < info.latent_dim; i++) dims.append(new Option(String(i), String(i)));
});
