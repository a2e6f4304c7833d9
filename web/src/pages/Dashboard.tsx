import { useEffect, useMemo, useState } from "react";
import { api, Device } from "../api";
import { ChartView, palette, pointRadius, timeAxis } from "../charts";
import { ErrorBox } from "../FieldError";
import { useSession } from "../session";

// Per target and per device: latency bands with loss, a SmokePing-style distribution, HTTP
// phases stacked, and one target seen from several devices. Every figure is bucketed by the
// server (`/api/v1/statistics?group_by=time`), over 1 hour to 90 days.

interface Group {
  key: string | null;
  count: number;
  success_rate: number;
  mean_loss_percent: number | null;
  samples: number;
  mean: number | null;
  min: number | null;
  max: number | null;
  p10: number | null;
  p25: number | null;
  p50: number | null;
  p75: number | null;
  p90: number | null;
  p99: number | null;
}

interface Statistics { since: number; until: number; groups: Group[] }

interface Series { test_type: string; target: string; device_id: number | null }

const ranges: [string, number][] = [["1 hour", 3600], ["6 hours", 6 * 3600], ["24 hours", 86400], ["7 days", 7 * 86400],
                                    ["30 days", 30 * 86400], ["90 days", 90 * 86400]];
const buckets = [10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
/// About 120 points across the range.
function bucketFor(seconds: number): number {
  return buckets.find((b) => seconds / b <= 150) ?? 86400;
}

const phases = ["dns", "connect", "tls", "quic_handshake", "ttfb", "transfer"];

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  Object.entries(params).forEach(([k, v]) => { if (v !== undefined && v !== "") q.set(k, String(v)); });
  return `/api/v1/statistics?${q}`;
}

/// Loss as SmokePing colours its median: green none, through blue and purple, to red.
function lossColour(loss: number | null): string {
  if (loss === null || loss <= 0) return "#198754";
  if (loss < 5) return "#0dcaf0";
  if (loss < 20) return "#6f42c1";
  return "#dc3545";
}

export function Dashboard() {
  const session = useSession();
  const [range, setRange] = useState(86400);
  const [kind, setKind] = useState("");
  const [target, setTarget] = useState("");
  const [device, setDevice] = useState("");
  const [series, setSeriesList] = useState<Series[]>([]);
  const [names, setNames] = useState<Record<string, string>>({});
  const [latencySeries, setLatencySeries] = useState<Statistics | null>(null);
  const [phaseSeries, setPhaseSeries] = useState<Record<string, Group[]>>({});
  const [locationSeries, setLocationSeries] = useState<Record<string, Group[]>>({});
  const [failure, setFailure] = useState<unknown>(null);
  // One "now" per view (range, kind, target, device, or Refresh), so its requests cover the same window.
  const [refreshed, setRefreshed] = useState(0);
  const view = useMemo(() => { const until = Date.now(); return { since: until - range * 1000, until }; },
                       // eslint-disable-next-line react-hooks/exhaustive-deps
                       [range, kind, target, device, refreshed]);
  const bucket = bucketFor(range);

  // What there is to chart comes from the series table (no result rows read), then only the
  // chosen target's buckets are computed.
  useEffect(() => {
    api<{ series: Series[] }>("GET", "/api/v1/series?limit=10000").then((s) => setSeriesList(s.series), setFailure);
  }, []);
  const kinds = useMemo(() => Array.from(new Set(series.map((s) => s.test_type))), [series]);
  const targets = useMemo(() => Array.from(new Set(series.filter((s) => s.test_type === kind).map((s) => s.target))), [series, kind]);
  const locations = useMemo(() => series.filter((s) => s.test_type === kind && s.target === target && s.device_id !== null)
    .map((s) => String(s.device_id)).slice(0, 8), [series, kind, target]);
  useEffect(() => { if (!kinds.includes(kind) && kinds.length) setKind(kinds.includes("icmp") ? "icmp" : kinds[0]); }, [kinds, kind]);
  useEffect(() => { if (!targets.includes(target) && targets.length) setTarget(targets[0]); }, [targets, target]);
  useEffect(() => {
    if (!session.canReadDirectory) return;
    api<{ devices: Device[] }>("GET", "/api/v1/devices?limit=1000").then(
      (d) => setNames(Object.fromEntries(d.devices.map((x) => [String(x.id), x.hostname || x.serial]))), () => undefined);
  }, [session.canReadDirectory]);
  useEffect(() => {
    if (!kind || !target || !targets.includes(target)) return;
    const base = { group_by: "time", bucket, test_type: kind, target, device_id: device, limit: 10000, ...view };
    setFailure(null);
    // A slow answer for an earlier choice must not overwrite this one.
    let stale = false;
    const fresh = <T,>(set: (v: T) => void) => (v: T) => { if (!stale) set(v); };
    api<Statistics>("GET", query(base)).then(fresh(setLatencySeries), fresh(setFailure));
    if (kind === "http") {
      Promise.all(phases.map((p) => api<Statistics>("GET", query({ ...base, metric: `${p}_ms` })).then((s) => [p, s.groups] as const)))
        .then((all) => fresh(setPhaseSeries)(Object.fromEntries(all)), fresh(setFailure));
    } else {
      setPhaseSeries({});
    }
    Promise.all(locations.map((d) => api<Statistics>("GET", query({ ...base, device_id: d })).then((x) => [d, x.groups] as const)))
      .then((all) => fresh(setLocationSeries)(Object.fromEntries(all)), fresh(setFailure));
    return () => { stale = true; };
  }, [kind, target, targets, device, bucket, view, locations]);

  const at = (g: Group) => Number(g.key);
  const groups = latencySeries?.groups ?? [];
  const latency = useMemo(() => ({
    datasets: [
      { label: "p99", data: groups.map((g) => ({ x: at(g), y: g.p99 })), borderColor: "rgba(13,110,253,0.35)",
        backgroundColor: "rgba(13,110,253,0.12)", fill: "+1", pointRadius: pointRadius(groups.length), borderWidth: 1 },
      { label: "p90", data: groups.map((g) => ({ x: at(g), y: g.p90 })), borderColor: "rgba(13,110,253,0.55)",
        backgroundColor: "rgba(13,110,253,0.22)", fill: "+1", pointRadius: pointRadius(groups.length), borderWidth: 1 },
      { label: "p50", data: groups.map((g) => ({ x: at(g), y: g.p50 })), borderColor: palette[0], pointRadius: pointRadius(groups.length), borderWidth: 2 },
      { label: "loss / failed %", data: groups.map((g) => ({ x: at(g), y: lossOf(g) })), borderColor: "#dc3545",
        backgroundColor: "rgba(220,53,69,0.5)", type: "bar", yAxisID: "loss" },
    ],
  }), [groups]);
  const latencyOptions = useMemo(() => ({
    scales: { x: timeAxis(view.since, view.until), y: { beginAtZero: true, title: { display: true, text: "ms" } },
              loss: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false }, title: { display: true, text: "loss %" } } },
  }), [view]);

  const smoke = useMemo(() => {
    const band = (label: string, pick: (g: Group) => number | null, alpha: number) => ({
      label, data: groups.map((g) => ({ x: at(g), y: pick(g) })), borderColor: "transparent",
      backgroundColor: `rgba(128,128,128,${alpha})`, fill: "+1", pointRadius: pointRadius(groups.length),
    });
    return {
      datasets: [
        band("max", (g) => g.max, 0.15), band("p90", (g) => g.p90, 0.3), band("p75", (g) => g.p75, 0.5),
        band("p25", (g) => g.p25, 0.3), band("p10", (g) => g.p10, 0.15),
        { label: "min", data: groups.map((g) => ({ x: at(g), y: g.min })), borderColor: "transparent", pointRadius: pointRadius(groups.length), fill: false },
        { label: "median (colour: loss)", data: groups.map((g) => ({ x: at(g), y: g.p50 })), borderWidth: 2, pointRadius: pointRadius(groups.length), fill: false,
          borderColor: "#198754",
          segment: { borderColor: (c: { p1DataIndex: number }) => lossColour(lossOf(groups[c.p1DataIndex])) } },
      ],
    };
  }, [groups]);
  const smokeOptions = useMemo(() => ({
    plugins: { legend: { display: false } },
    scales: { x: timeAxis(view.since, view.until), y: { beginAtZero: true, title: { display: true, text: "ms" } } },
  }), [view]);

  const phaseData = useMemo(() => {
    const times = Array.from(new Set(Object.values(phaseSeries).flatMap((gs) => gs.map(at)))).sort((a, b) => a - b);
    return {
      datasets: phases.filter((p) => phaseSeries[p]?.some((g) => g.mean !== null)).map((p, i) => {
        const byTime = new Map((phaseSeries[p] ?? []).map((g) => [at(g), g.mean]));
        return { label: p, data: times.map((t) => ({ x: t, y: byTime.get(t) ?? null })), backgroundColor: palette[i % palette.length],
                 stack: "phases" };
      }),
    };
  }, [phaseSeries]);
  const phaseOptions = useMemo(() => ({
    scales: { x: { ...timeAxis(view.since, view.until), stacked: true, offset: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: "mean ms" } } },
  }), [view]);

  const locationData = useMemo(() => ({
    datasets: locations.map((d, i) => ({
      label: names[d] ?? `device ${d}`, borderColor: palette[i % palette.length], pointRadius: pointRadius(groups.length),
      data: (locationSeries[d] ?? []).map((g) => ({ x: at(g), y: g.p50 })),
    })),
  }), [locations, locationSeries, names]);
  const locationOptions = useMemo(() => ({
    scales: { x: timeAxis(view.since, view.until), y: { beginAtZero: true, title: { display: true, text: "p50 ms" } } },
  }), [view]);

  const totals = groups.reduce((t, g) => ({ count: t.count + g.count, ok: t.ok + g.count * g.success_rate }), { count: 0, ok: 0 });
  return (
    <section aria-labelledby="dash-title">
      <h2 id="dash-title" className="h4 mb-3">Dashboards</h2>
      <form className="row g-2 align-items-end mb-3" aria-label="What to chart" onSubmit={(e) => e.preventDefault()}>
        <div className="col-6 col-md-2">
          <label htmlFor="dash-kind" className="form-label">Kind</label>
          <select id="dash-kind" className="form-select" value={kind} onChange={(e) => { setKind(e.target.value); setTarget(""); setDevice(""); }}>
            {kinds.map((k) => <option key={k} value={k}>{k}</option>)}
          </select>
        </div>
        <div className="col-12 col-md-4">
          <label htmlFor="dash-target" className="form-label">Target</label>
          <select id="dash-target" className="form-select" value={target} onChange={(e) => { setTarget(e.target.value); setDevice(""); }}>
            {targets.map((t) => <option key={t} value={t}>{t}</option>)}
          </select>
        </div>
        <div className="col-6 col-md-3">
          <label htmlFor="dash-device" className="form-label">Device</label>
          <select id="dash-device" className="form-select" value={device} onChange={(e) => setDevice(e.target.value)}>
            <option value="">all devices</option>
            {locations.map((d) => <option key={d} value={d}>{names[d] ?? `device ${d}`}</option>)}
          </select>
        </div>
        <div className="col-6 col-md-2">
          <label htmlFor="dash-range" className="form-label">Range</label>
          <select id="dash-range" className="form-select" value={range} onChange={(e) => setRange(Number(e.target.value))}>
            {ranges.map(([label, s]) => <option key={s} value={s}>{label}</option>)}
          </select>
        </div>
        <div className="col-auto">
          <button type="button" className="btn btn-outline-secondary" onClick={() => setRefreshed((n) => n + 1)}>Refresh</button>
        </div>
      </form>
      <ErrorBox error={failure} />
      {!kinds.length && <p className="text-muted">No results yet.</p>}
      {target && (
        <>
          <p className="small text-muted" data-testid="dash-summary">
            {totals.count} results, {totals.count ? ((100 * totals.ok) / totals.count).toFixed(1) : "–"} % successful;
            buckets of {bucket >= 3600 ? `${bucket / 3600} h` : bucket >= 60 ? `${bucket / 60} min` : `${bucket} s`}.
          </p>
          <div className="row g-3">
            <div className="col-12 col-xl-6">
              <h3 className="h6">Latency p50 / p90 / p99 and loss</h3>
              <ChartView type="line" data={latency} options={latencyOptions} label="Latency percentiles and loss over time" testid="chart-latency" />
            </div>
            <div className="col-12 col-xl-6">
              <h3 className="h6">Distribution (SmokePing-style: min–max, p10–p90, p25–p75; median coloured by loss)</h3>
              <ChartView type="line" data={smoke} options={smokeOptions} label="Latency distribution over time" testid="chart-smoke" />
            </div>
            {kind === "http" && (
              <div className="col-12 col-xl-6">
                <h3 className="h6">HTTP phases (mean per bucket, stacked)</h3>
                <ChartView type="bar" data={phaseData} options={phaseOptions} label="HTTP phases stacked over time" testid="chart-phases" />
              </div>
            )}
            <div className="col-12 col-xl-6">
              <h3 className="h6">From each device (p50)</h3>
              {locations.length ? (
                <ChartView type="line" data={locationData} options={locationOptions} label="The target's median latency from each device" testid="chart-locations" />
              ) : <p className="small text-muted">No device measured this target in the range (server-side and uploaded tests have none).</p>}
            </div>
          </div>
        </>
      )}
    </section>
  );
}

/// Loss where the kind measures it (a run of echoes), else the share of failed results.
function lossOf(g: Group | undefined): number | null {
  if (!g) return null;
  return g.mean_loss_percent ?? (g.count ? (1 - g.success_rate) * 100 : null);
}
