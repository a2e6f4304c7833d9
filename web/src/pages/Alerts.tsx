import { FormEvent, useState } from "react";
import { Alert, AlertRule, api, APIError } from "../api";
import { ErrorBox } from "../FieldError";
import { useSession } from "../session";
import { useAPI } from "../useAPI";
import { Unit } from "./Units";

interface RuleForm {
  name: string;
  metric: string;
  aggregation: string;
  window_s: string;
  comparison: string;
  threshold: string;
  for_s: string;
  enabled: boolean;
  ou_id: string;
  test_type: string;
  target: string;
  device_id: string;
  webhook_url: string;
  webhook_format: string;
}

interface Transition {
  id: number;
  series: { device_id: number | null; test_type: string; target: string };
  from: string;
  to: string;
  value: number | null;
  at: string;
}

const metrics = ["success_rate", "loss_percent", "latency_ms", "min_ms", "max_ms", "p50_ms", "p99_ms", "jitter_ms", "stddev_ms",
                 "connect_ms", "ttfb_ms", "total_ms", "dns_ms", "tls_ms", "quic_handshake_ms", "transfer_ms", "throughput_mbps"];
const blank: RuleForm = { name: "", metric: "loss_percent", aggregation: "avg", window_s: "300", comparison: ">", threshold: "5", for_s: "60",
                          enabled: true, ou_id: "", test_type: "", target: "", device_id: "", webhook_url: "", webhook_format: "json" };

function formOf(r: AlertRule & { selector?: Record<string, unknown>; webhook?: { url: string; format: string } | null }): RuleForm {
  const s = r.selector ?? {};
  return { name: r.name, metric: r.metric, aggregation: r.aggregation, window_s: String(r.window_s), comparison: r.comparison,
           threshold: String(r.threshold), for_s: String(r.for_s), enabled: r.enabled, ou_id: r.ou_id === null ? "" : String(r.ou_id),
           test_type: String(s.test_type ?? ""), target: String(s.target ?? ""), device_id: s.device_id === undefined ? "" : String(s.device_id),
           webhook_url: r.webhook?.url ?? "", webhook_format: r.webhook?.format ?? "json" };
}

function bodyOf(f: RuleForm): Record<string, unknown> {
  const selector: Record<string, unknown> = {};
  if (f.test_type) selector.test_type = f.test_type;
  if (f.target) selector.target = f.target;
  if (f.device_id) selector.device_id = Number(f.device_id);
  const body: Record<string, unknown> = {
    name: f.name, metric: f.metric, aggregation: f.aggregation, window_s: Number(f.window_s), comparison: f.comparison,
    threshold: Number(f.threshold), for_s: Number(f.for_s), enabled: f.enabled, ou_id: f.ou_id ? Number(f.ou_id) : null, selector,
  };
  if (f.webhook_url) body.webhook = { url: f.webhook_url, format: f.webhook_format };
  return body;
}

/// Series pending or firing; the rules in the caller's scope, which administrators create, edit
/// and delete; each rule's transitions.
export function Alerts() {
  const { canWrite, user } = useSession();
  // Only a global admin may watch everything (ou_id null); an OU admin's rule watches a unit.
  const global = user.role === "global_admin";
  const fresh = (): RuleForm => ({ ...blank, ou_id: global || user.ou_id === null ? "" : String(user.ou_id) });
  const alerts = useAPI<{ alerts: Alert[] }>("/api/v1/alerts", 5000);
  const rules = useAPI<{ rules: AlertRule[] }>("/api/v1/alert-rules", 30_000);
  const units = useAPI<{ organization_units: Unit[] }>("/api/v1/ous");
  const [editing, setEditing] = useState<number | "new" | null>(null);
  const [form, setForm] = useState<RuleForm>(blank);
  const [failure, setFailure] = useState<unknown>(null);
  const [history, setHistory] = useState<number | null>(null);
  const error = alerts.error ?? rules.error;
  const fields = failure instanceof APIError ? failure.fields ?? {} : {};

  async function save(event: FormEvent) {
    event.preventDefault();
    setFailure(null);
    try {
      if (editing === "new") await api("POST", "/api/v1/alert-rules", bodyOf(form));
      else await api("PUT", `/api/v1/alert-rules/${editing}`, bodyOf(form));
      setEditing(null);
      rules.reload();
    } catch (e) {
      setFailure(e);
    }
  }

  const input = (key: keyof RuleForm, label: string, props: Record<string, unknown> = {}) => (
    <div className="col-6 col-md-2">
      <label htmlFor={`rule-${key}`} className="form-label">{label}</label>
      <input id={`rule-${key}`} className={`form-control${fields[key] ? " is-invalid" : ""}`} value={String(form[key])}
             onChange={(e) => setForm({ ...form, [key]: e.target.value })} {...props} />
      {fields[key] && <div className="invalid-feedback">{fields[key]}</div>}
    </div>
  );
  const choice = (key: keyof RuleForm, label: string, options: [string, string][]) => (
    <div className="col-6 col-md-2">
      <label htmlFor={`rule-${key}`} className="form-label">{label}</label>
      <select id={`rule-${key}`} className="form-select" value={String(form[key])} onChange={(e) => setForm({ ...form, [key]: e.target.value })}>
        {options.map(([value, text]) => <option key={value} value={value}>{text}</option>)}
      </select>
    </div>
  );

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
      <div className="d-flex align-items-center gap-3 mb-2">
        <h3 className="h6 mb-0">Rules</h3>
        {canWrite && editing === null && (
          <button className="btn btn-sm btn-primary" onClick={() => { setForm(fresh()); setFailure(null); setEditing("new"); }}>New rule</button>
        )}
      </div>
      {editing !== null && (
        <form className="card card-body mb-3" onSubmit={save} aria-label={editing === "new" ? "New alert rule" : "Edit alert rule"}>
          <ErrorBox error={failure} />
          <div className="row g-2">
            <div className="col-12 col-md-4">
              <label htmlFor="rule-name" className="form-label">Name</label>
              <input id="rule-name" className={`form-control${fields.name ? " is-invalid" : ""}`} required value={form.name}
                     onChange={(e) => setForm({ ...form, name: e.target.value })} />
            </div>
            {choice("metric", "Metric", metrics.map((m) => [m, m]))}
            {choice("aggregation", "Aggregation", ["avg", "min", "max", "p50", "p90", "p99", "last"].map((a) => [a, a]))}
            {choice("comparison", "Comparison", [">", ">=", "<", "<="].map((c) => [c, c]))}
            {input("threshold", "Threshold", { type: "number", step: "any", required: true })}
            {input("window_s", "Window (s)", { type: "number", min: 1, required: true })}
            {input("for_s", "For (s)", { type: "number", min: 0 })}
            {choice("ou_id", "Unit", [...(global ? [["", "(everything)"] as [string, string]] : []),
                                      ...(units.data?.organization_units ?? []).map((u) => [String(u.id), u.name] as [string, string])])}
            {choice("test_type", "Kind", [["", "(any)"], ["icmp", "icmp"], ["tcp", "tcp"], ["udp", "udp"], ["http", "http"]])}
            {input("target", "Target")}
            {input("device_id", "Device id", { type: "number", min: 1 })}
            {input("webhook_url", "Webhook URL", { type: "url" })}
            {choice("webhook_format", "Webhook format", [["json", "json"], ["slack", "slack"]])}
            <div className="col-6 col-md-2 form-check align-self-end ms-2">
              <input id="rule-enabled" type="checkbox" className="form-check-input" checked={form.enabled}
                     onChange={(e) => setForm({ ...form, enabled: e.target.checked })} />
              <label htmlFor="rule-enabled" className="form-check-label">Enabled</label>
            </div>
          </div>
          <div className="mt-3 d-flex gap-2">
            <button className="btn btn-primary">Save rule</button>
            <button type="button" className="btn btn-outline-secondary" onClick={() => setEditing(null)}>Cancel</button>
          </div>
        </form>
      )}
      <div className="table-responsive">
        <table className="table table-sm align-middle">
          <thead><tr><th scope="col">Name</th><th scope="col">Condition</th><th scope="col">For</th><th scope="col">Enabled</th><th scope="col" /></tr></thead>
          <tbody>
            {rules.data?.rules.map((r) => (
              <tr key={r.id} data-testid={`rule-${r.name}`}>
                <td>{r.name}</td>
                <td>{r.metric === "success_rate" ? "success_rate" : `${r.aggregation}(${r.metric})`} {r.comparison} {r.threshold} over {r.window_s} s</td>
                <td>{r.for_s} s</td>
                <td>{r.enabled ? "yes" : "no"}</td>
                <td>
                  <div className="d-flex flex-wrap gap-2">
                    <button className="btn btn-sm btn-link" aria-expanded={history === r.id}
                            onClick={() => setHistory(history === r.id ? null : r.id)}>History</button>
                    {canWrite && (
                      <>
                        <button className="btn btn-sm btn-outline-secondary"
                                onClick={() => { setForm(formOf(r)); setFailure(null); setEditing(r.id); }}>Edit</button>
                        <button className="btn btn-sm btn-outline-danger" onClick={() => {
                          if (window.confirm(`Delete the rule ${r.name}?`)) api("DELETE", `/api/v1/alert-rules/${r.id}`).then(rules.reload, setFailure);
                        }}>Delete</button>
                      </>
                    )}
                  </div>
                  {history === r.id && <Transitions ruleID={r.id} />}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {editing === null && <ErrorBox error={failure} />}
    </section>
  );
}

/// A rule's state changes, newest first.
function Transitions(props: { ruleID: number }) {
  const t = useAPI<{ transitions: Transition[] }>(`/api/v1/alert-rules/${props.ruleID}/transitions?limit=50`);
  if (t.error) return <div className="text-danger small">{t.error}</div>;
  if (!t.data) return null;
  if (!t.data.transitions.length) return <div className="small text-muted">No transitions yet.</div>;
  return (
    <ul className="list-unstyled small mt-2 mb-0">
      {t.data.transitions.map((x) => (
        <li key={x.id}>{new Date(x.at).toLocaleString()}: {x.series.test_type} {x.series.target}
          {x.series.device_id !== null && ` (device ${x.series.device_id})`}: {x.from} → {x.to}
          {x.value !== null && ` at ${x.value.toPrecision(3)}`}</li>
      ))}
    </ul>
  );
}
