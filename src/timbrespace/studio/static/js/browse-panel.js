// The "Packs" and "Latent map" panels: pick a dataset sound to load it as the start point, or
// click / drag on empty map space to generate there.

import { Throttle, getJSON } from "./api.js";
import { renderBody } from "./control-panel.js";
import { request } from "./history.js";
import { LatentMap, formatNumber, packColor } from "./map.js";
import { PackBrowser } from "./packs.js";
import { original, player } from "./sound-panel.js";
import { $, S, newGesture, on } from "./state.js";
import { report } from "./status.js";

let mapGesture = 0; // the gesture of a map drag in progress

/** Load dataset sound `index` as the start point (optionally previewing its original). */
export function loadSound(index, { preview = false } = {}) {
  const label = S.sounds[index] ?? `#${index}`;
  const start = { index };
  if (preview && S.info.originals) {
    original(index)
      .then((buffer) => buffer && player.preview(buffer))
      .catch(report);
  }
  latentMap.setMarker(null, index);
  packs.setCurrent(index);
  return request("/api/render", renderBody(start, new Map()), {
    label,
    start,
    startLabel: label,
    moved: [],
    reference: index,
    ref: start,
    marker: { xy: null, index },
    autoplay: !preview,
    area: "map",
  });
}

const mapThrottle = new Throttle((xy, gesture) => {
  const start = { map: xy };
  const label = `map (${formatNumber(xy[0])}, ${formatNumber(xy[1])})`;
  return request("/api/render", renderBody(start, new Map()), {
    label,
    start,
    startLabel: label,
    moved: [],
    reference: "nearest",
    ref: start,
    marker: { xy },
    gesture,
    area: "map",
  });
});

function onMapGenerate(xy, phase) {
  if (phase === "start" || phase === "key" || !mapGesture) mapGesture = newGesture();
  mapThrottle.push([xy[0], xy[1]], mapGesture);
  if (phase === "end" || phase === "key") mapGesture = 0;
}

export const packs = new PackBrowser({
  container: $("packs"),
  filter: $("pack-filter"),
  onPick: (index) => loadSound(index, { preview: true }),
  folderColor: (path) => {
    const pack = S.info?.packs?.indexOf(path) ?? -1;
    return pack >= 0 ? packColor(pack) : null;
  },
});

export const latentMap = new LatentMap({
  canvas: $("map"),
  tooltip: $("map-tooltip"),
  legend: $("map-legend"),
  axes: $("map-axes"),
  onPick: (index) => loadSound(index),
  onGenerate: onMapGenerate,
});

$("map-color").addEventListener("change", async () => {
  try {
    const color = $("map-color").value;
    latentMap.setData(await getJSON(`/api/map?color=${encodeURIComponent(color)}`));
  } catch (error) {
    report(error);
  }
});

/** Fetch the pack tree and the map (coloured by pack) and show them. */
export async function loadViews() {
  const [tree, map] = await Promise.all([getJSON("/api/packs"), getJSON("/api/map?color=pack")]);
  S.sounds = map.sounds;
  packs.build(tree);
  latentMap.setData(map);
}

on("info", (info) => {
  const select = $("map-color");
  select.replaceChildren(new Option("pack", "pack"));
  for (const d of info.descriptors) {
    select.append(new Option(d.unit ? `${d.name} (${d.unit})` : d.name, d.name));
  }
});

// the marker follows every result: where its latent lies (the server's projection); the
// start sound of a move keeps its ring
on("show", (entry) => {
  if ("index" in entry.start) packs.setCurrent(entry.start.index);
  const xy = entry.map ?? entry.marker?.xy ?? null;
  if (xy || entry.marker) latentMap.setPosition(xy, entry.marker?.index ?? -1);
});
