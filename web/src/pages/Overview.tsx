import { Alert, DeviceSummary, Statistics } from "../api";
import { useAPI, useNow } from "../useAPI";

function Card(props: { title: string; value: string; detail?: string; tone?: string; testid: string }) {
  return (
    <div className="col-6 col-lg-3">
      <div className={`card h-100 border-${props.tone ?? "secondary"}`} data-testid={props.testid}>
        <div className="card-body">
          <div className="text-muted small">{props.title}</div>
          <div className="fs-2 fw-semibold">{props.value}</div>
          {props.detail && <div className="small text-muted">{props.detail}</div>}
        </div>
      </div>
    </div>
  );
}

/// Devices online, checks failing, alerts firing and results ingested per second, refreshed
/// every 5 s.
export function Overview() {
  const devices = useAPI<DeviceSummary>("/api/v1/devices/summary", 5000);
  const alerts = useAPI<{ alerts: Alert[] }>("/api/v1/alerts?state=firing", 5000);
  // The last minute's results by target: a target whose last minute had failures is failing.
  // The window moves every 5 s (a new path, so a new request); not at every render.
  const now = useNow(5000);
  const minute = useAPI<Statistics>(`/api/v1/statistics?group_by=target&since=${now - 60_000}&until=${now}`);
  const failing = minute.data?.groups.filter((g) => g.success_rate < 1) ?? [];
  const ingested = minute.data ? minute.data.groups.reduce((n, g) => n + g.count, 0) / 60 : null;
  const error = devices.error ?? alerts.error ?? minute.error;
  return (
    <section aria-labelledby="overview-title">
      <h2 id="overview-title" className="h4 mb-3">Overview</h2>
      {error && <div className="alert alert-danger" role="alert">{error}</div>}
      <div className="row g-3">
        <Card testid="devices-online" title="Devices online" value={devices.data ? `${devices.data.online}` : "…"}
              detail={devices.data ? `of ${devices.data.active} active; ${devices.data.offline} offline, ${devices.data.stale} stale` : undefined}
              tone="success" />
        <Card testid="checks-failing" title="Targets failing (last minute)" value={minute.data ? `${failing.length}` : "…"}
              detail={failing.slice(0, 3).map((g) => g.key).join(", ") || undefined} tone={failing.length ? "danger" : "success"} />
        <Card testid="alerts-firing" title="Alerts firing" value={alerts.data ? `${alerts.data.alerts.length}` : "…"}
              tone={alerts.data?.alerts.length ? "danger" : "success"} />
        <Card testid="ingest-rate" title="Results per second (last minute)" value={ingested === null ? "…" : ingested.toFixed(2)} />
      </div>
    </section>
  );
}
