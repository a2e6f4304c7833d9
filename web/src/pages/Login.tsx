import { FormEvent, useState } from "react";
import { api, APIError, login, LoginResponse, setSession } from "../api";

/// Password, then a TOTP code when the account has MFA; a one-time password must be changed
/// before anything else answers.
export function Login() {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [needsCode, setNeedsCode] = useState(false);
  const [change, setChange] = useState<LoginResponse | null>(null);
  const [newPassword, setNewPassword] = useState("");
  const [newCode, setNewCode] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body: Record<string, string> = { username, password };
      if (needsCode) body.mfa_code = code;
      const reply = await login(body);
      if (reply.password_change_required) {
        setChange(reply);
      } else {
        setSession(reply.csrf_token);
      }
    } catch (e) {
      if (e instanceof APIError && e.code === "mfa_required") {
        setNeedsCode(true);
        setError("Enter the code from your authenticator app.");
      } else {
        setError(e instanceof Error ? e.message : String(e));
      }
    } finally {
      setBusy(false);
    }
  }

  async function changePassword(event: FormEvent) {
    event.preventDefault();
    if (!change) return;
    setBusy(true);
    setError(null);
    try {
      // Made with the new session's CSRF token, but the page stays here until the change and
      // the new login have both worked: a refused password is shown on this form.
      await api("POST", "/api/v1/auth/password", { current_password: password, new_password: newPassword }, change.csrf_token);
      // Changing the password ends every session: log in again with the new one (and, with MFA,
      // a fresh code: the one just used is spent).
      const body: Record<string, string> = { username, password: newPassword };
      if (needsCode) body.mfa_code = newCode;
      const reply = await login(body);
      setSession(reply.csrf_token);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="container py-5" style={{ maxWidth: 420 }}>
      <h1 className="h3 mb-4">WaddlePerf</h1>
      {change ? (
        <form onSubmit={changePassword} aria-label="Choose a new password">
          <p>This is a one-time password. Choose your own (12 or more characters).</p>
          <div className="mb-3">
            <label htmlFor="new-password" className="form-label">New password</label>
            <input id="new-password" type="password" className="form-control" autoComplete="new-password" required
                   value={newPassword} onChange={(e) => setNewPassword(e.target.value)} />
          </div>
          {needsCode && (
            <div className="mb-3">
              <label htmlFor="new-mfa-code" className="form-label">A new authenticator code (the last one is spent)</label>
              <input id="new-mfa-code" className="form-control" inputMode="numeric" pattern="[0-9]{6}" autoComplete="one-time-code"
                     required value={newCode} onChange={(e) => setNewCode(e.target.value)} />
            </div>
          )}
          {error && <div className="alert alert-danger" role="alert">{error}</div>}
          <button className="btn btn-primary" disabled={busy}>Change password</button>
        </form>
      ) : (
        <form onSubmit={submit} aria-label="Log in">
          <div className="mb-3">
            <label htmlFor="username" className="form-label">Username</label>
            <input id="username" className="form-control" autoComplete="username" required autoFocus
                   value={username} onChange={(e) => setUsername(e.target.value)} />
          </div>
          <div className="mb-3">
            <label htmlFor="password" className="form-label">Password</label>
            <input id="password" type="password" className="form-control" autoComplete="current-password" required
                   value={password} onChange={(e) => setPassword(e.target.value)} />
          </div>
          {needsCode && (
            <div className="mb-3">
              <label htmlFor="mfa-code" className="form-label">Authenticator code</label>
              <input id="mfa-code" className="form-control" inputMode="numeric" pattern="[0-9]{6}" autoComplete="one-time-code"
                     required autoFocus value={code} onChange={(e) => setCode(e.target.value)} />
            </div>
          )}
          {error && <div className="alert alert-danger" role="alert">{error}</div>}
          <button className="btn btn-primary" disabled={busy}>Log in</button>
        </form>
      )}
    </main>
  );
}
