import { FormEvent, useState } from "react";
import { api, User } from "../api";
import { ErrorBox } from "../FieldError";
import { assignableRoles, useSession } from "../session";
import { useAPI } from "../useAPI";
import { Unit } from "./Units";

interface UserRow extends User {
  email: string | null;
  active: boolean;
  last_login_at: string | null;
}

/// Users in scope: search; and for administrators, create (a role no higher than theirs, a unit in
/// their scope), change role and unit, deactivate or reactivate, reset a password, revoke every
/// session, token and API key, and see or revoke a user's API keys.
export function Users() {
  const { user: me, canWrite } = useSession();
  const [search, setSearch] = useState("");
  const users = useAPI<{ users: UserRow[]; total: number }>(`/api/v1/users?limit=200${search ? `&search=${encodeURIComponent(search)}` : ""}`);
  const units = useAPI<{ organization_units: Unit[] }>("/api/v1/ous");
  const [form, setForm] = useState({ username: "", password: "", role: "user", ou: "" });
  const [failure, setFailure] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const [keysOf, setKeysOf] = useState<number | null>(null);

  /// Runs an action; true when it worked (the server's refusal is shown).
  async function act(action: () => Promise<unknown>, message: string): Promise<boolean> {
    setFailure(null);
    setDone(null);
    try { await action(); if (message) setDone(message); users.reload(); return true; } catch (e) { setFailure(e); return false; }
  }

  function create(event: FormEvent) {
    event.preventDefault();
    act(() => api("POST", "/api/v1/users", { username: form.username, password: form.password, role: form.role,
                                              ou_id: form.ou ? Number(form.ou) : null }),
        `Created ${form.username}.`).then((ok) => { if (ok) setForm({ ...form, username: "", password: "" }); });
  }

  return (
    <section aria-labelledby="users-title">
      <h2 id="users-title" className="h4 mb-3">Users {users.data && <span className="text-muted fs-6">({users.data.total})</span>}</h2>
      <ErrorBox error={users.error ?? failure} />
      {done && <div className="alert alert-success" role="status">{done}</div>}
      <div className="mb-3" style={{ maxWidth: 320 }}>
        <label htmlFor="user-search" className="form-label">Search</label>
        <input id="user-search" type="search" className="form-control" value={search} onChange={(e) => setSearch(e.target.value)} />
      </div>
      {canWrite && (
        <form className="row g-2 align-items-end mb-3" onSubmit={create} aria-label="Create a user">
          <div className="col-12 col-md-3">
            <label htmlFor="new-username" className="form-label">Username</label>
            <input id="new-username" className="form-control" required autoComplete="off" value={form.username}
                   onChange={(e) => setForm({ ...form, username: e.target.value })} />
          </div>
          <div className="col-12 col-md-3">
            <label htmlFor="new-user-password" className="form-label">Password</label>
            <input id="new-user-password" type="password" className="form-control" required autoComplete="new-password" value={form.password}
                   onChange={(e) => setForm({ ...form, password: e.target.value })} />
          </div>
          <div className="col-6 col-md-2">
            <label htmlFor="new-user-role" className="form-label">Role</label>
            <select id="new-user-role" className="form-select" value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value })}>
              {assignableRoles(me.role).map((r) => <option key={r} value={r}>{r}</option>)}
            </select>
          </div>
          <div className="col-6 col-md-2">
            <label htmlFor="new-user-unit" className="form-label">Unit</label>
            <select id="new-user-unit" className="form-select" value={form.ou} onChange={(e) => setForm({ ...form, ou: e.target.value })}>
              <option value="">(none)</option>
              {units.data?.organization_units.map((u) => <option key={u.id} value={u.id}>{u.name}</option>)}
            </select>
          </div>
          <div className="col-auto"><button className="btn btn-primary">Create user</button></div>
        </form>
      )}
      <div className="table-responsive">
        <table className="table table-sm align-middle">
          <thead>
            <tr><th scope="col">User</th><th scope="col">Role</th><th scope="col">Unit</th><th scope="col">Active</th>
                {canWrite && <th scope="col">Actions</th>}</tr>
          </thead>
          <tbody>
            {users.data?.users.map((u) => {
              const editable = canWrite && u.id !== me.id;
              const unitName = units.data?.organization_units.find((x) => x.id === u.ou_id)?.name ?? (u.ou_id === null ? "(none)" : `#${u.ou_id}`);
              return (
                <tr key={u.id} data-testid={`user-${u.username}`}>
                  <td>{u.username}<div className="small text-muted">{u.email ?? ""}</div></td>
                  <td>
                    {editable ? (
                      <select aria-label={`Role of ${u.username}`} className="form-select form-select-sm" value={u.role}
                              onChange={(e) => act(() => api("PATCH", `/api/v1/users/${u.id}`, { role: e.target.value }),
                                                   `${u.username} is now ${e.target.value}.`)}>
                        {Array.from(new Set([u.role, ...assignableRoles(me.role)])).map((r) => <option key={r} value={r}>{r}</option>)}
                      </select>
                    ) : u.role}
                  </td>
                  <td>
                    {editable ? (
                      <select aria-label={`Unit of ${u.username}`} className="form-select form-select-sm" value={u.ou_id ?? ""}
                              onChange={(e) => act(() => api("PATCH", `/api/v1/users/${u.id}`, { ou_id: e.target.value ? Number(e.target.value) : null }),
                                                   `${u.username} moved.`)}>
                        <option value="">(none)</option>
                        {units.data?.organization_units.map((x) => <option key={x.id} value={x.id}>{x.name}</option>)}
                      </select>
                    ) : unitName}
                  </td>
                  <td>{u.active ? "yes" : "no"}</td>
                  {canWrite && (
                    <td>
                      {editable && (
                        <div className="d-flex flex-wrap gap-2">
                          <button className="btn btn-sm btn-outline-secondary"
                                  onClick={() => act(() => api("PATCH", `/api/v1/users/${u.id}`, { active: !u.active }),
                                                     `${u.username} ${u.active ? "deactivated" : "reactivated"}.`)}>
                            {u.active ? "Deactivate" : "Reactivate"}
                          </button>
                          <button className="btn btn-sm btn-outline-secondary" onClick={() => {
                            const password = window.prompt(`New password for ${u.username} (12+ characters)`);
                            if (password) act(() => api("PUT", `/api/v1/users/${u.id}/password`, { password }), `${u.username}'s password was reset.`);
                          }}>Reset password</button>
                          <button className="btn btn-sm btn-outline-danger"
                                  onClick={() => act(async () => {
                                    const r = await api<{ revoked: { tokens: number; sessions: number; api_keys: number } }>(
                                      "POST", `/api/v1/users/${u.id}/revoke-tokens`);
                                    setDone(`${u.username}: ${r.revoked.sessions} sessions, ${r.revoked.tokens} tokens and ${r.revoked.api_keys} API keys revoked.`);
                                  }, "")}>Revoke sessions</button>
                          <button className="btn btn-sm btn-link" aria-expanded={keysOf === u.id}
                                  onClick={() => setKeysOf(keysOf === u.id ? null : u.id)}>API keys</button>
                        </div>
                      )}
                      {keysOf === u.id && <UserKeys userID={u.id} username={u.username} mfa={me.mfa_enabled ?? false} onError={setFailure} />}
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}

interface KeyRow { id: number; name: string; prefix: string; last_used_at: string | null; revoked_at: string | null }

/// Another user's API keys (never the keys themselves), each revocable; an administrator above
/// them may issue one in their name (with the administrator's own password), shown once.
function UserKeys(props: { userID: number; username: string; mfa: boolean; onError: (e: unknown) => void }) {
  const keys = useAPI<{ api_keys: KeyRow[] }>(`/api/v1/users/${props.userID}/api-keys`);
  const live = keys.data?.api_keys.filter((k) => !k.revoked_at) ?? [];
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [created, setCreated] = useState<string | null>(null);

  async function issue(event: FormEvent) {
    event.preventDefault();
    try {
      const body: Record<string, string> = { name, password };
      if (code) body.mfa_code = code;
      const key = await api<{ key: string }>("POST", `/api/v1/users/${props.userID}/api-keys`, body);
      setCreated(key.key);
      setName("");
      setPassword("");
      setCode("");
      keys.reload();
    } catch (e) {
      props.onError(e);
    }
  }

  const id = `user-${props.userID}-key`;
  return (
    <div className="mt-2" data-testid={`keys-${props.userID}`}>
      <ul className="list-unstyled small mb-2">
        {keys.error && <li className="text-danger">{keys.error}</li>}
        {keys.data && !live.length && <li className="text-muted">no live API keys</li>}
        {live.map((k) => (
          <li key={k.id} className="d-flex gap-2 align-items-center">
            <span>{k.name} <code>{k.prefix}</code>, last used {k.last_used_at ? new Date(k.last_used_at).toLocaleString() : "never"}</span>
            <button className="btn btn-sm btn-outline-danger py-0"
                    onClick={() => api("DELETE", `/api/v1/users/${props.userID}/api-keys/${k.id}`).then(keys.reload, props.onError)}>Revoke</button>
          </li>
        ))}
      </ul>
      {created && (
        <div className="alert alert-warning small py-2" role="status">
          {props.username}'s new key, shown once: <code className="text-break" data-testid={`user-key-${props.userID}`}>{created}</code>
        </div>
      )}
      <form className="row g-1 align-items-end" onSubmit={issue} aria-label={`Issue an API key for ${props.username}`}>
        <div className="col-12 col-md-4">
          <label htmlFor={`${id}-name`} className="form-label small mb-0">Key name</label>
          <input id={`${id}-name`} className="form-control form-control-sm" required value={name} onChange={(e) => setName(e.target.value)} />
        </div>
        <div className="col-12 col-md-4">
          <label htmlFor={`${id}-password`} className="form-label small mb-0">Your password</label>
          <input id={`${id}-password`} type="password" className="form-control form-control-sm" required autoComplete="current-password"
                 value={password} onChange={(e) => setPassword(e.target.value)} />
        </div>
        {props.mfa && (
          <div className="col-6 col-md-2">
            <label htmlFor={`${id}-code`} className="form-label small mb-0">Code</label>
            <input id={`${id}-code`} className="form-control form-control-sm" inputMode="numeric" value={code} onChange={(e) => setCode(e.target.value)} />
          </div>
        )}
        <div className="col-auto"><button className="btn btn-sm btn-outline-primary">Issue key</button></div>
      </form>
    </div>
  );
}
