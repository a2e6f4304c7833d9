import { useEffect, useMemo, useRef, useState } from "react";
import { APIError, csrfToken } from "../api";
import { ChartView, palette } from "../charts";
import { ErrorBox } from "../FieldError";

// The browser speed test: every figure comes from bytes this page counted and times it took
// with performance.now(); the server only sends and swallows bytes. Method, as shown on the page:
//  - latency: sequential GETs of an empty /speedtest/ping, each timed from fetch() to the end
//    of the response; median and jitter (mean absolute difference of consecutive samples,
//    RFC 3550's idea without its smoothing). Idle first, then every 250 ms during each transfer.
//  - download: N parallel loops of GET /speedtest/download (chunks growing from 1 MiB while a
//    chunk takes under 0.5 s, up to 64 MiB), bytes counted as the body stream delivers them;
//  - upload: N parallel loops of POST /speedtest/upload of random bytes (sizes growing the same
//    way) through XMLHttpRequest, bytes counted as its upload progress events report them sent
//    (counting whole chunks on the server's answer credited a chunk cut by the window's start
//    with time it did not take: 13 % too high through a 40 Mbit/s tbf); the server's `bytes`
//    must match each chunk;
//  - rate = bytes in the measuring window × 8 / window seconds, where the window starts after a
//    warm-up (the first 20 % of the phase: TCP slow start) and ends when the phase ends. Bytes
//    still in flight at the end of the phase are counted up to their arrival.

const PING = "/api/v1/speedtest/ping";

interface Figures {
  idle?: { median: number; jitter: number; samples: number };
  download?: { mbps: number; bytes: number; seconds: number; loaded: number | null };
  upload?: { mbps: number; bytes: number; seconds: number; loaded: number | null };
}

interface Sample { t: number; down: number; up: number }

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function jitter(values: number[]): number {
  if (values.length < 2) return 0;
  let sum = 0;
  for (let i = 1; i < values.length; i++) sum += Math.abs(values[i] - values[i - 1]);
  return sum / (values.length - 1);
}

async function ping(signal?: AbortSignal): Promise<number> {
  const start = performance.now();
  const response = await fetch(`${PING}?t=${start}`, { cache: "no-store", credentials: "same-origin", signal });
  await response.arrayBuffer();
  if (!response.ok) throw new APIError(response.status, "speedtest", `ping answered ${response.status}`);
  return performance.now() - start;
}

async function refusal(response: Response): Promise<APIError> {
  const text = await response.text();
  try {
    const json = JSON.parse(text);
    return new APIError(response.status, json.error ?? "error", json.message ?? response.statusText);
  } catch {
    return new APIError(response.status, "error", response.statusText);
  }
}

function randomBytes(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, Math.min(size, i + 65536)));
  return bytes;
}

export function SpeedTest() {
  // Chromium opens at most 6 HTTP/1.1 connections to one server: one is kept for the pings.
  const [streams, setStreams] = useState(4);
  const [seconds, setSeconds] = useState(8);
  const [phase, setPhase] = useState("idle");
  const [figures, setFigures] = useState<Figures>({});
  const [samples, setSamples] = useState<Sample[]>([]);
  const [failure, setFailure] = useState<unknown>(null);
  const running = useRef(false);
  // Leaving the page stops a run in progress (its streams, pings and uploads).
  const stop = useRef<AbortController | null>(null);
  useEffect(() => () => stop.current?.abort(), []);

  async function run() {
    if (running.current) return;
    running.current = true;
    const controller = new AbortController();
    stop.current = controller;
    const signal = controller.signal;
    setFailure(null);
    setFigures({});
    setSamples([]);
    try {
      setPhase("latency");
      const idle: number[] = [];
      await ping(signal); // opens the connection: not a sample
      for (let i = 0; i < 20; i++) idle.push(await ping(signal));
      const result: Figures = { idle: { median: median(idle), jitter: jitter(idle), samples: idle.length } };
      setFigures({ ...result });
      setPhase("download");
      const t0 = performance.now();
      const record = (s: Sample) => setSamples((old) => [...old, s]);
      result.download = await transfer("down", streams, seconds * 1000, t0, { t: 0, down: 0, up: 0 }, record, signal);
      setFigures({ ...result });
      setPhase("upload");
      result.upload = await transfer("up", streams, seconds * 1000, t0, { t: 0, down: result.download.bytes, up: 0 }, record, signal);
      setFigures({ ...result });
      setPhase("done");
    } catch (e) {
      if (signal.aborted) return;
      setFailure(e);
      setPhase("failed");
    } finally {
      running.current = false;
    }
  }

  const data = useMemo(() => {
    const rate = (key: "down" | "up") => samples.map((s, i) => {
      if (i === 0) return { x: s.t / 1000, y: null };
      const prev = samples[i - 1];
      const dt = (s.t - prev.t) / 1000;
      return { x: s.t / 1000, y: dt > 0 ? ((s[key] - prev[key]) * 8) / dt / 1e6 : null };
    });
    return { datasets: [
      { label: "download Mbit/s", data: rate("down"), borderColor: palette[0], pointRadius: 0 },
      { label: "upload Mbit/s", data: rate("up"), borderColor: palette[1], pointRadius: 0 },
    ] };
  }, [samples]);
  const options = useMemo(() => ({
    scales: { x: { type: "linear", title: { display: true, text: "s" } }, y: { beginAtZero: true, title: { display: true, text: "Mbit/s" } } },
  }), []);

  const busy = !["idle", "done", "failed"].includes(phase);
  return (
    <section aria-labelledby="speed-title">
      <h2 id="speed-title" className="h4 mb-3">Speed test against this server</h2>
      <div className="row g-2 align-items-end mb-3">
        <div className="col-6 col-md-2">
          <label htmlFor="speed-streams" className="form-label">Parallel streams</label>
          <input id="speed-streams" type="number" className="form-control" min={1} max={5} value={streams}
                 onChange={(e) => setStreams(Math.max(1, Math.min(5, Number(e.target.value) || 1)))} />
        </div>
        <div className="col-6 col-md-2">
          <label htmlFor="speed-seconds" className="form-label">Seconds per direction</label>
          <input id="speed-seconds" type="number" className="form-control" min={2} max={30} value={seconds}
                 onChange={(e) => setSeconds(Math.max(2, Math.min(30, Number(e.target.value) || 2)))} />
        </div>
        <div className="col-12 col-md-2">
          <button className="btn btn-primary" onClick={run} disabled={busy}>{busy ? "Running…" : "Start"}</button>
        </div>
        <div className="col-12 col-md-3 small" data-testid="speed-phase" aria-live="polite">{phase}</div>
      </div>
      <ErrorBox error={failure} />
      <div className="row row-cols-2 row-cols-md-4 g-2 mb-3" aria-label="Speed test results">
        <Figure label="Download" unit="Mbit/s" value={figures.download?.mbps} testid="speed-download" />
        <Figure label="Upload" unit="Mbit/s" value={figures.upload?.mbps} testid="speed-upload" />
        <Figure label="Latency idle" unit="ms" value={figures.idle?.median} testid="speed-latency" />
        <Figure label="Jitter idle" unit="ms" value={figures.idle?.jitter} />
        <Figure label="Latency, downloading" unit="ms" value={figures.download?.loaded ?? undefined} />
        <Figure label="Latency, uploading" unit="ms" value={figures.upload?.loaded ?? undefined} />
        <Figure label="Downloaded" unit="MB" value={figures.download ? figures.download.bytes / 1e6 : undefined} />
        <Figure label="Uploaded" unit="MB" value={figures.upload ? figures.upload.bytes / 1e6 : undefined} />
      </div>
      <ChartView type="line" data={data} options={options} label="Throughput every 250 ms" testid="speed-chart" height={220} />
      <details className="mt-3" open>
        <summary>How these figures are computed</summary>
        <ul className="small mt-2">
          <li><strong>Latency:</strong> 20 sequential requests for an empty response, each timed by this browser from the request to the
            end of the answer (HTTP over a kept-alive connection, so it includes the server's request handling). The median is shown;
            jitter is the mean absolute difference between consecutive samples. Under load, the same request every 250 ms.</li>
          <li><strong>Download:</strong> {streams} parallel streams repeatedly fetch chunks of random bytes (growing from 1 MiB while a chunk
            takes under 0.5 s, up to 64 MiB); the bytes are counted as the browser receives them.</li>
          <li><strong>Upload:</strong> {streams} parallel streams repeatedly send chunks of random bytes, counted as the browser
            reports them sent (upload progress events); the server must confirm every byte of each chunk.</li>
          <li><strong>Rate:</strong> bytes × 8 ÷ seconds over the window after a warm-up (the first 20 % of each phase: TCP slow
            start) to the end of the phase; bytes still in flight then are counted up to their arrival. Megabits are 10⁶ bits.
            Nothing is scaled or "compensated".</li>
        </ul>
      </details>
    </section>
  );
}

function Figure(props: { label: string; unit: string; value: number | undefined; testid?: string }) {
  return (
    <div className="col">
      <div className="border rounded p-2 text-center h-100">
        <div className="small text-muted">{props.label}</div>
        <div className="fs-5" data-testid={props.testid}>{props.value === undefined ? "–" : props.value.toFixed(props.value >= 100 ? 0 : 2)}</div>
        <div className="small text-muted">{props.unit}</div>
      </div>
    </div>
  );
}

/// One direction: `streams` loops for `durationMs`, pings every 250 ms alongside, and the rate
/// over the window after the warm-up.
async function transfer(direction: "down" | "up", streams: number, durationMs: number, t0: number, carry: Sample,
                        record: (s: Sample) => void, outer: AbortSignal) {
  // Made before the clock starts: filling 64 MiB blocks the page for a moment.
  const upload = direction === "up" ? randomBytes(64 << 20) : null;
  // One stream failing (or the page closing) stops the others.
  const controller = new AbortController();
  const signal = controller.signal;
  const abort = () => controller.abort();
  outer.addEventListener("abort", abort);
  const start = performance.now();
  const end = start + durationMs;
  const warm = start + durationMs * 0.2;
  let bytes = 0;
  // (time, bytes so far) when the warm-up ended: the window's origin.
  let atWarm: { t: number; bytes: number } | null = null;
  const loaded: number[] = [];
  const add = (n: number) => {
    bytes += n;
    const now = performance.now();
    if (!atWarm && now >= warm) atWarm = { t: now, bytes: bytes - n };
  };
  const sampler = setInterval(() => {
    record({ t: performance.now() - t0, down: direction === "down" ? bytes : carry.down, up: direction === "up" ? bytes : carry.up });
  }, 250);
  const pinger = (async () => {
    while (performance.now() < end && !signal.aborted) {
      try { loaded.push(await ping(signal)); } catch { /* a ping lost under load is not a sample */ }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  const loop = async () => {
    let size = 1 << 20;
    while (performance.now() < end) {
      const began = performance.now();
      if (direction === "down") {
        const response = await fetch(`/api/v1/speedtest/download?bytes=${size}&t=${began}`,
                                     { cache: "no-store", credentials: "same-origin", signal });
        if (!response.ok || !response.body) throw await refusal(response);
        const reader = response.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          add(value.byteLength);
        }
      } else {
        await send(upload!.subarray(0, size), add, signal);
      }
      if (performance.now() - began < 500 && size < (64 << 20)) size *= 2;
    }
  };
  let finished = 0;
  try {
    await Promise.all(Array.from({ length: streams }, loop));
    // The transfers' end, before waiting for the last ping.
    finished = performance.now();
  } finally {
    clearInterval(sampler);
    abort();
    outer.removeEventListener("abort", abort);
    await pinger;
  }
  const median_ = loaded.length ? median(loaded) : null;
  const origin = (atWarm ?? { t: start, bytes: 0 }) as { t: number; bytes: number };
  const seconds = (finished - origin.t) / 1000;
  return { mbps: ((bytes - origin.bytes) * 8) / seconds / 1e6, bytes, seconds, loaded: median_ };
}

/// One upload chunk through XMLHttpRequest, whose progress events say how many bytes the
/// browser has sent so far (fetch() says nothing until the answer); the server's answer must
/// confirm every byte.
function send(body: Uint8Array, add: (n: number) => void, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    signal.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.onabort = () => reject(new DOMException("aborted", "AbortError"));
    let counted = 0;
    xhr.open("POST", "/api/v1/speedtest/upload");
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.setRequestHeader("X-CSRF-Token", csrfToken() ?? "");
    xhr.upload.onprogress = (e) => { add(e.loaded - counted); counted = e.loaded; };
    xhr.onload = () => {
      let answer: { bytes?: number; message?: string } = {};
      try { answer = JSON.parse(xhr.responseText); } catch { /* reported below */ }
      if (xhr.status !== 200) {
        reject(new APIError(xhr.status, "speedtest", answer.message ?? `upload answered ${xhr.status}`));
      } else if (answer.bytes !== body.byteLength) {
        reject(new Error(`the server read ${answer.bytes} of ${body.byteLength} bytes`));
      } else {
        add(body.byteLength - counted);
        resolve();
      }
    };
    xhr.onerror = () => reject(new Error("the upload failed (network error)"));
    xhr.send(body);
  });
}
