// HTTP client for the studio API (see studio/API.md): JSON in, JSON or WAV out.
// Every failure becomes an ApiError whose message is the server's `detail`.

export class ApiError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

let pending = 0;
/** Count work in progress; `body[data-busy]` is 0 when the page is idle (tests wait on it). */
export function busy(delta) {
  pending = Math.max(0, pending + delta);
  document.body.dataset.busy = String(pending);
}

/** One line from a FastAPI error body: a string detail or a list of validation errors. */
function formatDetail(body, fallback) {
  const detail = body && body.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d) => {
        const loc = Array.isArray(d.loc) ? d.loc.filter((p) => p !== "body").join(".") : "";
        return loc ? `${loc}: ${d.msg}` : String(d.msg ?? JSON.stringify(d));
      })
      .join("; ");
  }
  return fallback;
}

async function request(url, options = {}) {
  busy(+1);
  try {
    let response;
    try {
      response = await fetch(url, options);
    } catch (error) {
      if (error && error.name === "AbortError") throw error;
      throw new ApiError(`cannot reach the studio server (${url}): ${error.message ?? error}`);
    }
    if (!response.ok) {
      let body = null;
      try {
        body = await response.json();
      } catch {
        body = null;
      }
      throw new ApiError(
        formatDetail(body, `${response.status} ${response.statusText} (${url})`),
        response.status,
      );
    }
    return response;
  } finally {
    busy(-1);
  }
}

export async function getJSON(url) {
  const response = await request(url);
  return response.json();
}

export async function postJSON(url, body) {
  const response = await request(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return response.json();
}

/**
 * POST a render-like request (render, interpolate, plane, path) → the WAV and its headers:
 * {blob, state, values, requested, measured, warnings, map} (see API.md).
 */
export async function postAudio(url, body) {
  busy(+1);
  try {
    const response = await request(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const blob = await response.blob();
    return {
      blob,
      state: response.headers.get("X-State"),
      values: headerJSON(response.headers, "X-Values", {}),
      requested: headerJSON(response.headers, "X-Requested", {}),
      measured: headerJSON(response.headers, "X-Measured", {}),
      warnings: headerJSON(response.headers, "X-Warnings", []),
      map: headerJSON(response.headers, "X-Map", null),
    };
  } finally {
    busy(-1);
  }
}

/**
 * POST to an endpoint answering audio without a state (the instrument's): `body` is sent as
 * JSON, or as is with `contentType` (an uploaded file) → {blob, headers}.
 */
export async function postForBlob(url, body, contentType = null) {
  busy(+1);
  try {
    const response = await request(url, {
      method: "POST",
      headers: { "Content-Type": contentType ?? "application/json" },
      body: contentType ? body : JSON.stringify(body),
    });
    return { blob: await response.blob(), headers: response.headers };
  } finally {
    busy(-1);
  }
}

/** A JSON header of an answer (`X-Played`, `X-Warnings`), or `fallback`. */
export function headerJSON(headers, name, fallback) {
  const text = headers.get(name);
  if (!text) return fallback;
  try {
    return JSON.parse(text);
  } catch {
    return fallback;
  }
}

/** GET a binary resource (an original sound file) as an ArrayBuffer. */
export async function getBytes(url) {
  busy(+1);
  try {
    const response = await request(url);
    return await response.arrayBuffer();
  } finally {
    busy(-1);
  }
}

/**
 * Keeps at most one request in flight per source; while one runs, only the newest pending
 * call is kept and sent when it ends (so a drag sends a steady stream, and its last
 * position is always rendered).
 */
export class Throttle {
  constructor(run) {
    this.run = run;
    this.inFlight = false;
    this.next = null;
  }

  push(...args) {
    if (this.inFlight) {
      this.next = args;
      return;
    }
    this.#start(args);
  }

  async #start(args) {
    this.inFlight = true;
    busy(+1);
    try {
      await this.run(...args);
    } catch {
      // `run` reports its own errors; a throttle never leaks a rejection
    } finally {
      this.inFlight = false;
      if (this.next) {
        const next = this.next;
        this.next = null;
        this.#start(next); // counts itself busy before this one stops counting
      }
      busy(-1);
    }
  }
}
