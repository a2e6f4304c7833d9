import { Alert, AlertRule } from "../api";
import { useAPI } from "../useAPI";

/// Series pending or firing, and the rules in the caller's scope.
export function Alerts() {
  const alerts = useAPI<{ alerts: Alert[] }>("/api/v1/alerts", 5000);
  const rules = useAPI<{ rules: AlertRule[] }>("/api/v1/alert-rules", 30_000);
  const error = alerts.error ?? rules.error;
  return (
    <section aria-labelledby="alerts-title">
      <h2 id="alerts-title" className="h4 mb-3">Alerts</h2>
      {error && <div className="alert alert-danger" role="alert">{error}</div>}
      <h3 className="h6">Active</h3>
      {alerts.data?.alerts.length === 0 && <p className="text-muted">Nothing pending or firing.</p>}
      <ul className="list-group mb-4">
        {alerts.data?.alerts.map((a) => (
          <li key={`${a.rule_id}-${a.series.device_id}-${a.series.test_type}-${a.series.target}`} className="list-group-item">
            <span className={`badge me-2 text-bg-${a.state === "firing" ? "danger" : "warning"}`}>{a.state}</span>
            {a.rule_name}: {a.series.test_type} {a.series.target}
            {a.series.device_id !== null && ` on device ${a.series.device_id}`} ({a.value === null ? "no data" : a.value.toPrecision(3)})
          </li>
        ))}
      </ul>
      <h3 className="h6">Rules</h3>
      <table className="table table-sm">
        <thead><tr><th scope="col">Name</th><th scope="col">Condition</th><th scope="col">For</th><th scope="col">Enabled</th></tr></thead>
        <tbody>
          {rules.data?.rules.map((r) => (
            <tr key={r.id}>
              <td>{r.name}</td>
              <td>{r.metric === "success_rate" ? "success_rate" : `${r.aggregation}(${r.metric})`} {r.comparison} {r.threshold} over {r.window_s} s</td>
              <td>{r.for_s} s</td>
              <td>{r.enabled ? "yes" : "no"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
