import { FormEvent, useState } from "react";
import { api } from "../api";
import { ErrorBox } from "../FieldError";
import { useAPI } from "../useAPI";
import { Unit } from "./Units";

interface ServerKey {
  id: number;
  name: string;
  prefix: string;
  ou_id: number | null;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
  key?: string;
}

/// Server keys (`X-Manager-Key`) for uploads from other systems: issued once, optionally bound to
/// a unit's subtree, revocable.
export function ServerKeys() {
  const keys = useAPI<{ server_keys: ServerKey[] }>("/api/v1/server-keys");
  const units = useAPI<{ organization_units: Unit[] }>("/api/v1/ous");
  const [name, setName] = useState("");
  const [unit, setUnit] = useState("");
  const [created, setCreated] = useState<ServerKey | null>(null);
  const [failure, setFailure] = useState<unknown>(null);
  const unitName = (id: number | null) => (id === null ? "any" : units.data?.organization_units.find((u) => u.id === id)?.name ?? `#${id}`);

  async function create(event: FormEvent) {
    event.preventDefault();
    setFailure(null);
    try {
      setCreated(await api<ServerKey>("POST", "/api/v1/server-keys", { name, ou_id: unit ? Number(unit) : null }));
      setName("");
      keys.reload();
    } catch (e) {
      setFailure(e);
    }
  }

  return (
    <section aria-labelledby="server-keys-title">
      <h2 id="server-keys-title" className="h4 mb-3">Server keys</h2>
      <ErrorBox error={keys.error ?? failure} />
      {created?.key && (
        <div className="alert alert-warning" role="status">
          Server key <strong>{created.name}</strong>, shown once: copy it now.
          <code className="d-block mt-2 text-break" data-testid="new-server-key">{created.key}</code>
          <div className="small mt-1">Send it as <code>X-Manager-Key: &lt;key&gt;</code> with <code>POST /api/v1/results</code>.</div>
        </div>
      )}
      <form className="row g-2 align-items-end mb-3" onSubmit={create} aria-label="Issue a server key">
        <div className="col-12 col-md-4">
          <label htmlFor="server-key-name" className="form-label">Name</label>
          <input id="server-key-name" className="form-control" required value={name} onChange={(e) => setName(e.target.value)} />
        </div>
        <div className="col-12 col-md-4">
          <label htmlFor="server-key-unit" className="form-label">Uploads to</label>
          <select id="server-key-unit" className="form-select" value={unit} onChange={(e) => setUnit(e.target.value)}>
            <option value="">any unit</option>
            {units.data?.organization_units.map((u) => <option key={u.id} value={u.id}>{u.name} and below</option>)}
          </select>
        </div>
        <div className="col-auto"><button className="btn btn-primary">Issue key</button></div>
      </form>
      <div className="table-responsive">
        <table className="table table-sm align-middle">
          <thead><tr><th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Unit</th><th scope="col">Last used</th><th scope="col">State</th></tr></thead>
          <tbody>
            {keys.data?.server_keys.map((k) => (
              <tr key={k.id} data-testid={`server-key-${k.name}`}>
                <td>{k.name}</td><td><code>{k.prefix}</code></td><td>{unitName(k.ou_id)}</td>
                <td>{k.last_used_at ? new Date(k.last_used_at).toLocaleString() : "never"}</td>
                <td>{k.revoked_at ? `revoked ${new Date(k.revoked_at).toLocaleString()}` : (
                  <button className="btn btn-sm btn-outline-danger" onClick={() => {
                    if (window.confirm(`Revoke ${k.name}? It stops at once.`)) api("DELETE", `/api/v1/server-keys/${k.id}`).then(keys.reload, setFailure);
                  }}>Revoke</button>
                )}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
