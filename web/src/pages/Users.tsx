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
/// their scope), deactivate or reactivate, reset a password.
export function Users() {
  const { user: me, canWrite } = useSession();
  const [search, setSearch] = useState("");
  const users = useAPI<{ users: UserRow[]; total: number }>(`/api/v1/users?limit=200${search ? `&search=${encodeURIComponent(search)}` : ""}`);
  const units = useAPI<{ organization_units: Unit[] }>("/api/v1/ous");
  const [form, setForm] = useState({ username: "", password: "", role: "user", ou: "" });
  const [failure, setFailure] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);

  async function act(action: () => Promise<unknown>, message: string) {
    setFailure(null);
    setDone(null);
    try { await action(); setDone(message); users.reload(); } catch (e) { setFailure(e); }
  }

  function create(event: FormEvent) {
    event.preventDefault();
    act(() => api("POST", "/api/v1/users", { username: form.username, password: form.password, role: form.role,
                                              ou_id: form.ou ? Number(form.ou) : null }),
        `Created ${form.username}.`).then(() => setForm({ ...form, username: "", password: "" }));
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
          <thead><tr><th scope="col">User</th><th scope="col">Role</th><th scope="col">Active</th>{canWrite && <th scope="col">Actions</th>}</tr></thead>
          <tbody>
            {users.data?.users.map((u) => (
              <tr key={u.id} data-testid={`user-${u.username}`}>
                <td>{u.username}<div className="small text-muted">{u.email ?? ""}</div></td>
                <td>{u.role}</td>
                <td>{u.active ? "yes" : "no"}</td>
                {canWrite && (
                  <td className="d-flex flex-wrap gap-2">
                    {u.id !== me.id && (
                      <button className="btn btn-sm btn-outline-secondary"
                              onClick={() => act(() => api("PATCH", `/api/v1/users/${u.id}`, { active: !u.active }),
                                                 `${u.username} ${u.active ? "deactivated" : "reactivated"}.`)}>
                        {u.active ? "Deactivate" : "Reactivate"}
                      </button>
                    )}
                    {u.id !== me.id && (
                      <button className="btn btn-sm btn-outline-secondary" onClick={() => {
                        const password = window.prompt(`New password for ${u.username} (12+ characters)`);
                        if (password) act(() => api("PUT", `/api/v1/users/${u.id}/password`, { password }), `${u.username}'s password was reset.`);
                      }}>Reset password</button>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
