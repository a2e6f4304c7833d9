import { FormEvent, useEffect, useMemo, useRef, useState } from "react";
import { api, APIError } from "../api";
import { CheckFields, CheckValues } from "../CheckForm";
import { ChartView, palette } from "../charts";
import { ErrorBox } from "../FieldError";
import { useAPI } from "../useAPI";

interface LatencySummary { min: number; mean: number; p50: number; p90: number; p99: number; max: number; jitter: number | null }

interface Summary {
  type: "summary";
  status: string;
  elapsed_ms: number;
  sent: number;
  received: number;
  expected: number;
  loss_percent: number | null;
  latency_ms: LatencySummary | null;
  dropped: number;
}

interface ProbeEvent {
  type: "probe";
  seq: number;
  outcome: string;
  success: boolean;
  latency_ms: number | null;
  message?: string | null;
}

interface TestRecord {
  id: string;
  status: string;
  check: CheckValues & { kind: string; target: string };
  created_at: string;
  finished_at: string | null;
  progress: { sent: number; received: number; expected: number };
  result: Record<string, unknown> | null;
  error: string | null;
  stream: string;
}

/// Runs a check on the server and watches it live: each probe's latency charted as its frame
/// arrives on the test's WebSocket, the summary's gauges every second, then the stored result.
/// Below, the tests you ran.
export function TestClient() {
  const [check, setCheck] = useState<CheckValues>({ kind: "icmp", target: "127.0.0.1", count: 20, interval_ms: 200 });
  const [failure, setFailure] = useState<unknown>(null);
  const [test, setTest] = useState<TestRecord | null>(null);
  const [points, setPoints] = useState<{ x: number; y: number | null }[]>([]);
  const [summary, setSummary] = useState<Summary | null>(null);
  const [streamState, setStreamState] = useState("idle");
  const socket = useRef<WebSocket | null>(null);
  const history = useAPI<{ tests: TestRecord[] }>("/api/v1/tests?limit=20");
  const [shown, setShown] = useState<TestRecord | null>(null);

  useEffect(() => () => socket.current?.close(), []);

  async function start(event: FormEvent) {
    event.preventDefault();
    setFailure(null);
    socket.current?.close();
    socket.current = null;
    setPoints([]);
    setSummary(null);
    try {
      const created = await api<TestRecord>("POST", "/api/v1/tests", check);
      setTest(created);
      watch(created);
    } catch (e) {
      setFailure(e);
    }
  }

  function watch(created: TestRecord) {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${window.location.host}${created.stream}`);
    socket.current = ws;
    setStreamState("connecting");
    ws.onopen = () => { if (socket.current === ws) setStreamState("live"); };
    ws.onmessage = (message) => {
      if (socket.current !== ws) return;
      const frame = JSON.parse(String(message.data));
      if (frame.type === "probe") {
        const p = frame as ProbeEvent;
        setPoints((old) => [...old, { x: p.seq, y: p.success ? p.latency_ms : null }]);
      } else if (frame.type === "summary") {
        setSummary(frame as Summary);
      } else if (frame.type === "result") {
        const done = frame.test as TestRecord;
        setTest(done);
        // The final figures: the test's own count and its result's metrics, not the last
        // once-a-second summary.
        const m = (done.result ?? {}) as Record<string, number | undefined>;
        setSummary((old) => old && {
          ...old, status: done.status, sent: done.progress.sent, received: done.progress.received,
          loss_percent: m.loss_percent ?? old.loss_percent,
          latency_ms: old.latency_ms && { ...old.latency_ms, p50: m.p50_ms ?? old.latency_ms.p50, p99: m.p99_ms ?? old.latency_ms.p99,
                                          jitter: m.jitter_ms ?? old.latency_ms.jitter },
        });
        history.reload();
      }
    };
    ws.onclose = (e) => {
      // A test replaced by a newer one closes too: it no longer speaks for the page.
      if (socket.current !== ws) return;
      setStreamState(e.code === 1000 ? "finished" : `closed (${e.code}${e.reason ? `: ${e.reason}` : ""})`);
      socket.current = null;
    };
  }

  async function cancel() {
    if (!test) return;
    try {
      setTest(await api<TestRecord>("DELETE", `/api/v1/tests/${test.id}`));
      history.reload();
    } catch (e) {
      setFailure(e);
    }
  }

  const data = useMemo(() => ({
    datasets: [{ label: "latency (ms)", data: points, borderColor: palette[0], backgroundColor: palette[0], pointRadius: 2, spanGaps: false }],
  }), [points]);
  const options = useMemo(() => ({
    scales: { x: { type: "linear", title: { display: true, text: "probe" } }, y: { beginAtZero: true, title: { display: true, text: "ms" } } },
  }), []);
  const fields = failure instanceof APIError ? failure.fields : undefined;
  const latency = summary?.latency_ms;

  return (
    <section aria-labelledby="tests-title">
      <h2 id="tests-title" className="h4 mb-3">Run a test</h2>
      <form onSubmit={start} aria-label="Run a test" className="mb-3">
        <CheckFields schemaName="Check" value={check} onChange={setCheck} errors={fields} idPrefix="test" />
        <div className="mt-2 d-flex gap-2">
          <button className="btn btn-primary">Run</button>
          {test?.status === "running" && <button type="button" className="btn btn-outline-danger" onClick={cancel}>Cancel</button>}
        </div>
      </form>
      <ErrorBox error={failure} />
      {test && (
        <div className="card mb-3">
          <div className="card-body">
            <div className="d-flex flex-wrap gap-3 mb-2 small">
              <span>Test <code>{test.id}</code>: {test.check.kind} {test.check.target}</span>
              <span data-testid="test-status">{test.status}</span>
              <span>stream: <span data-testid="stream-state">{streamState}</span></span>
            </div>
            <div className="row row-cols-2 row-cols-md-6 g-2 mb-2" aria-label="Live figures">
              <Gauge label="sent" value={summary?.sent} />
              <Gauge label="received" value={summary?.received} testid="gauge-received" />
              <Gauge label="loss %" value={summary?.loss_percent} />
              <Gauge label="p50 ms" value={latency?.p50} />
              <Gauge label="p99 ms" value={latency?.p99} />
              <Gauge label="jitter ms" value={latency?.jitter ?? undefined} />
            </div>
            <ChartView type="line" data={data} options={options} label="Latency of each probe as it completes" testid="live-chart" />
            {(summary?.dropped ?? 0) > 0 && <p className="small text-warning">{summary?.dropped} events were dropped for this viewer (a slow reader).</p>}
            {test.result && (
              <details className="mt-2"><summary>Result document</summary><pre className="small">{JSON.stringify(test.result, null, 2)}</pre></details>
            )}
            {test.error && <div className="alert alert-danger mt-2">{test.error}</div>}
          </div>
        </div>
      )}
      <h3 className="h6">Your recent tests</h3>
      <ErrorBox error={history.error} />
      <div className="table-responsive">
        <table className="table table-sm align-middle" data-testid="test-history">
          <thead><tr><th>Started</th><th>Kind</th><th>Target</th><th>Status</th><th>Received</th><th /></tr></thead>
          <tbody>
            {history.data?.tests.map((t) => (
              <tr key={t.id}>
                <td>{new Date(t.created_at).toLocaleString()}</td>
                <td>{t.check.kind}</td>
                <td className="text-break">{t.check.target}</td>
                <td>{t.status}</td>
                <td>{t.progress.received}/{t.progress.sent}</td>
                <td><button className="btn btn-sm btn-link" onClick={() => setShown(shown?.id === t.id ? null : t)}>{shown?.id === t.id ? "Hide" : "Details"}</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {shown && <pre className="small border rounded p-2" aria-label="Test details">{JSON.stringify(shown, null, 2)}</pre>}
    </section>
  );
}

function Gauge(props: { label: string; value: number | null | undefined; testid?: string }) {
  const text = props.value === null || props.value === undefined ? "–" : Number.isInteger(props.value) ? String(props.value) : props.value.toFixed(2);
  return (
    <div className="col">
      <div className="border rounded p-2 text-center">
        <div className="small text-muted">{props.label}</div>
        <div className="fs-5" data-testid={props.testid}>{text}</div>
      </div>
    </div>
  );
}
