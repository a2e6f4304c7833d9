import { FormEvent, useState } from "react";
import { api } from "../api";
import { ErrorBox } from "../FieldError";
import { useSession } from "../session";
import { useAPI } from "../useAPI";
import { Unit } from "./Units";

interface Secret {
  id: number;
  ou_id: number;
  name: string;
  prefix: string;
  uses: number;
  max_uses: number | null;
  expires_at: string | null;
  revoked_at: string | null;
  secret?: string;
}

/// Enrollment secrets: a new one is shown once, with the command that enrols an agent with it.
export function Enrollment() {
  const { canWrite } = useSession();
  const secrets = useAPI<{ enrollment_secrets: Secret[] }>("/api/v1/enrollment/secrets");
  const units = useAPI<{ organization_units: Unit[] }>("/api/v1/ous");
  const [name, setName] = useState("");
  const [unit, setUnit] = useState("");
  const [created, setCreated] = useState<Secret | null>(null);
  const [failure, setFailure] = useState<unknown>(null);
  const unitName = new Map((units.data?.organization_units ?? []).map((u) => [u.id, u.name]));

  async function create(event: FormEvent) {
    event.preventDefault();
    setFailure(null);
    try {
      setCreated(await api<Secret>("POST", "/api/v1/enrollment/secrets", { name, ou_id: Number(unit) }));
      setName("");
      secrets.reload();
    } catch (e) {
      setFailure(e);
    }
  }

  return (
    <section aria-labelledby="enrollment-title">
      <h2 id="enrollment-title" data-testid="enrollment-title" className="h4 mb-3">Enrollment secrets</h2>
      <ErrorBox error={secrets.error ?? failure} />
      {created?.secret && (
        <div className="alert alert-warning" role="status">
          Secret <strong>{created.name}</strong>, shown once: enrol an agent with
          <code className="d-block mt-2 text-break" data-testid="enroll-command">
            waddleperf agent --server {window.location.origin} --enroll {created.secret}
          </code>
        </div>
      )}
      {canWrite && (
        <form className="row g-2 align-items-end mb-3" onSubmit={create} aria-label="Create an enrollment secret">
          <div className="col-12 col-md-4">
            <label htmlFor="secret-name" className="form-label">Name</label>
            <input id="secret-name" className="form-control" required value={name} onChange={(e) => setName(e.target.value)} />
          </div>
          <div className="col-12 col-md-4">
            <label htmlFor="secret-unit" className="form-label">Devices join</label>
            <select id="secret-unit" className="form-select" required value={unit} onChange={(e) => setUnit(e.target.value)}>
              <option value="">(choose a unit)</option>
              {units.data?.organization_units.map((u) => <option key={u.id} value={u.id}>{u.name}</option>)}
            </select>
          </div>
          <div className="col-auto"><button className="btn btn-primary">Create secret</button></div>
        </form>
      )}
      <table className="table table-sm">
        <thead><tr><th scope="col">Name</th><th scope="col">Unit</th><th scope="col">Prefix</th><th scope="col">Uses</th>{canWrite && <th scope="col">Actions</th>}</tr></thead>
        <tbody>
          {secrets.data?.enrollment_secrets.filter((s) => !s.revoked_at).map((s) => (
            <tr key={s.id}>
              <td>{s.name}</td><td>{unitName.get(s.ou_id) ?? s.ou_id}</td><td><code>{s.prefix}</code></td>
              <td>{s.uses}{s.max_uses !== null ? ` of ${s.max_uses}` : ""}</td>
              {canWrite && (
                <td><button className="btn btn-sm btn-outline-danger"
                            onClick={() => api("DELETE", `/api/v1/enrollment/secrets/${s.id}`).then(secrets.reload, setFailure)}>Revoke</button></td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
