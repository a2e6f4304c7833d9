import { Fragment, useState } from "react";
import { api, Device } from "../api";
import { ErrorBox } from "../FieldError";
import { useSession } from "../session";
import { useAPI } from "../useAPI";

const badge: Record<Device["status"], string> = { online: "success", recent: "info", offline: "warning", stale: "secondary" };

/// Devices in the caller's scope with their status (from heartbeats) and their agent's state:
/// filtered by status and name, each with its details; administrators deactivate, reactivate or
/// reset a device's enrolment.
export function Devices() {
  const { canWrite } = useSession();
  const [status, setStatus] = useState("");
  const [search, setSearch] = useState("");
  const query = new URLSearchParams({ limit: "200" });
  if (status) query.set("status", status);
  if (search) query.set("search", search);
  const { data, error, reload } = useAPI<{ devices: (Device & Record<string, unknown>)[]; total: number }>(`/api/v1/devices?${query}`, 10_000);
  const [open, setOpen] = useState<number | null>(null);
  const [failure, setFailure] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);

  function act(path: string, message: string) {
    setFailure(null);
    setDone(null);
    api("POST", path).then(() => { setDone(message); reload(); }, setFailure);
  }

  return (
    <section aria-labelledby="devices-title">
      <h2 id="devices-title" className="h4 mb-3">Devices {data && <span className="text-muted fs-6">({data.total})</span>}</h2>
      {error && <div className="alert alert-danger" role="alert">{error}</div>}
      <ErrorBox error={failure} />
      {done && <div className="alert alert-success" role="status">{done}</div>}
      <div className="row g-2 mb-3">
        <div className="col-6 col-md-2">
          <label htmlFor="device-status" className="form-label">Status</label>
          <select id="device-status" className="form-select" value={status} onChange={(e) => setStatus(e.target.value)}>
            <option value="">all</option>
            {["online", "recent", "offline", "stale"].map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </div>
        <div className="col-6 col-md-3">
          <label htmlFor="device-search" className="form-label">Serial or hostname</label>
          <input id="device-search" type="search" className="form-control" value={search} onChange={(e) => setSearch(e.target.value)} />
        </div>
      </div>
      <div className="table-responsive">
        <table className="table table-sm align-middle">
          <thead>
            <tr>
              <th scope="col">Device</th><th scope="col">Status</th><th scope="col">Checks</th>
              <th scope="col">Buffered</th><th scope="col">Dropped</th><th scope="col">Last seen</th><th scope="col" />
            </tr>
          </thead>
          <tbody>
            {data?.devices.map((d) => (
              <Fragment key={d.id}>
                <tr data-testid={`device-${d.id}`}>
                  <td><div className="fw-semibold">{d.hostname || d.serial}</div><div className="small text-muted">{d.serial}</div></td>
                  <td><span className={`badge text-bg-${d.active ? badge[d.status] : "dark"}`}>{d.active ? d.status : "deactivated"}</span></td>
                  <td data-testid="checks">{d.agent ? `${d.agent.checks_configured}${d.agent.config_error ? " (config refused)" : ""}` : "–"}</td>
                  <td>{d.agent ? d.agent.buffer_results : "–"}</td>
                  <td>{d.agent ? d.agent.dropped_results : "–"}</td>
                  <td>{d.last_seen_at ? new Date(d.last_seen_at).toLocaleString() : "never"}</td>
                  <td>
                    <div className="d-flex flex-wrap gap-2">
                      <button className="btn btn-sm btn-link" aria-expanded={open === d.id} onClick={() => setOpen(open === d.id ? null : d.id)}>Details</button>
                      {canWrite && (d.active ? (
                        <button className="btn btn-sm btn-outline-danger" onClick={() => {
                          if (window.confirm(`Deactivate ${d.hostname || d.serial}? Its token stops at once.`)) {
                            act(`/api/v1/devices/${d.id}/deactivate`, `${d.hostname || d.serial} deactivated.`);
                          }
                        }}>Deactivate</button>
                      ) : (
                        <button className="btn btn-sm btn-outline-secondary"
                                onClick={() => act(`/api/v1/devices/${d.id}/reactivate`, `${d.hostname || d.serial} may enrol again.`)}>Reactivate</button>
                      ))}
                      {canWrite && (
                        <button className="btn btn-sm btn-outline-secondary" onClick={() => {
                          if (window.confirm(`End ${d.hostname || d.serial}'s token so its serial can enrol again (a replaced machine)?`)) {
                            act(`/api/v1/devices/${d.id}/reset-enrollment`, `${d.hostname || d.serial}'s enrolment was reset.`);
                          }
                        }}>Reset enrolment</button>
                      )}
                    </div>
                  </td>
                </tr>
                {open === d.id && (
                  <tr><td colSpan={7}><Details device={d} /></td></tr>
                )}
              </Fragment>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Details(props: { device: Device & Record<string, unknown> }) {
  const d = props.device;
  const a = d.agent;
  const rows: [string, string][] = [
    ["OS", `${d.os ?? ""} ${String(d.os_version ?? "")}`], ["Client", `${d.client_type} ${String(d.client_version ?? "")}`],
    ["Unit", String(d.ou_id)],
    ["Enrolled", d.enrolled_at ? `${new Date(String(d.enrolled_at)).toLocaleString()} from ${String(d.enrolled_address ?? "?")}` : "–"],
  ];
  if (a) {
    rows.push(["Agent version", a.version ?? "–"], ["Checks running", `${a.checks_running} of ${a.checks_configured}`],
              ["Runs (skipped)", `${a.runs} (${a.skipped_runs})`],
              ["Buffer", `${a.buffer_results} results, ${(a.buffer_bytes / 1024).toFixed(0)} KiB, oldest ${a.buffer_oldest_ms === null ? "–" : `${(a.buffer_oldest_ms / 1000).toFixed(0)} s`}`],
              ["Dropped", String(a.dropped_results)], ["Last upload", a.last_upload_at ? new Date(a.last_upload_at).toLocaleString() : "never"],
              ["Config error", a.config_error ?? "none"]);
  }
  return (
    <dl className="row small mb-0" data-testid={`device-details-${d.id}`}>
      {rows.map(([k, v]) => (
        <Fragment key={k}><dt className="col-5 col-md-2">{k}</dt><dd className="col-7 col-md-4">{v}</dd></Fragment>
      ))}
    </dl>
  );
}
