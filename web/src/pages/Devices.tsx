import { Device } from "../api";
import { useAPI } from "../useAPI";

const badge: Record<Device["status"], string> = { online: "success", recent: "info", offline: "warning", stale: "secondary" };

/// Devices in the caller's scope with their status (from heartbeats) and their agent's state.
export function Devices() {
  const { data, error } = useAPI<{ devices: Device[]; total: number }>("/api/v1/devices?limit=200", 10_000);
  return (
    <section aria-labelledby="devices-title">
      <h2 id="devices-title" className="h4 mb-3">Devices {data && <span className="text-muted fs-6">({data.total})</span>}</h2>
      {error && <div className="alert alert-danger" role="alert">{error}</div>}
      <div className="table-responsive">
        <table className="table table-sm align-middle">
          <thead>
            <tr>
              <th scope="col">Device</th><th scope="col">Status</th><th scope="col">Checks</th>
              <th scope="col">Buffered</th><th scope="col">Dropped</th><th scope="col">Last seen</th>
            </tr>
          </thead>
          <tbody>
            {data?.devices.map((d) => (
              <tr key={d.id} data-testid={`device-${d.id}`}>
                <td><div className="fw-semibold">{d.hostname || d.serial}</div><div className="small text-muted">{d.serial}</div></td>
                <td><span className={`badge text-bg-${d.active ? badge[d.status] : "dark"}`}>{d.active ? d.status : "deactivated"}</span></td>
                <td data-testid="checks">{d.agent ? `${d.agent.checks_configured}${d.agent.config_error ? " (config refused)" : ""}` : "–"}</td>
                <td>{d.agent ? d.agent.buffer_results : "–"}</td>
                <td>{d.agent ? d.agent.dropped_results : "–"}</td>
                <td>{d.last_seen_at ? new Date(d.last_seen_at).toLocaleString() : "never"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
