import qrcode from "qrcode-generator";
import { FormEvent, useState } from "react";
import { api } from "../api";
import { ErrorBox } from "../FieldError";
import { useSession } from "../session";
import { useAPI } from "../useAPI";

interface APIKey {
  id: number;
  name: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
  key?: string;
}

/// The caller's own API keys: a new one is shown once, here, and never again.
export function Account() {
  const { user } = useSession();
  const keys = useAPI<{ api_keys: APIKey[] }>(`/api/v1/users/${user.id}/api-keys`);
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [created, setCreated] = useState<APIKey | null>(null);
  // Whether logins (and new keys) need a code: from whoami, then as this page changes it.
  const [mfaEnabled, setMFAEnabled] = useState(user.mfa_enabled ?? false);
  const [failure, setFailure] = useState<unknown>(null);

  async function create(event: FormEvent) {
    event.preventDefault();
    setFailure(null);
    try {
      const body: Record<string, string> = { name, password };
      if (code) body.mfa_code = code;
      setCreated(await api<APIKey>("POST", `/api/v1/users/${user.id}/api-keys`, body));
      setName("");
      setPassword("");
      setCode("");
      keys.reload();
    } catch (e) {
      setFailure(e);
    }
  }

  return (
    <section aria-labelledby="account-title">
      <h2 id="account-title" className="h4 mb-3">Your account: {user.username} ({user.role})</h2>
      <h3 className="h6">API keys</h3>
      <ErrorBox error={keys.error ?? failure} />
      {created?.key && (
        <div className="alert alert-warning" role="status">
          Key <strong>{created.name}</strong>, shown once: copy it now.
          <code className="d-block mt-2 text-break" data-testid="new-api-key">{created.key}</code>
          <div className="small mt-1">Send it as <code>Authorization: ApiKey &lt;key&gt;</code> or <code>Bearer &lt;key&gt;</code>.</div>
        </div>
      )}
      <form className="row g-2 align-items-end mb-3" onSubmit={create} aria-label="Create an API key">
        <div className="col-12 col-md-3">
          <label htmlFor="key-name" className="form-label">Key name</label>
          <input id="key-name" className="form-control" required value={name} onChange={(e) => setName(e.target.value)} />
        </div>
        <div className="col-12 col-md-3">
          <label htmlFor="key-password" className="form-label">Your password</label>
          <input id="key-password" type="password" className="form-control" required autoComplete="current-password"
                 value={password} onChange={(e) => setPassword(e.target.value)} />
        </div>
        {mfaEnabled && (
          <div className="col-6 col-md-2">
            <label htmlFor="key-code" className="form-label">Authenticator code</label>
            <input id="key-code" className="form-control" inputMode="numeric" value={code} onChange={(e) => setCode(e.target.value)} />
          </div>
        )}
        <div className="col-auto"><button className="btn btn-primary">Create key</button></div>
      </form>
      <table className="table table-sm">
        <thead><tr><th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Last used</th><th scope="col">Actions</th></tr></thead>
        <tbody>
          {keys.data?.api_keys.filter((k) => !k.revoked_at).map((k) => (
            <tr key={k.id}>
              <td>{k.name}</td><td><code>{k.prefix}</code></td>
              <td>{k.last_used_at ? new Date(k.last_used_at).toLocaleString() : "never"}</td>
              <td><button className="btn btn-sm btn-outline-danger" onClick={() => {
                api("DELETE", `/api/v1/users/${user.id}/api-keys/${k.id}`).then(keys.reload, setFailure);
              }}>Revoke</button></td>
            </tr>
          ))}
        </tbody>
      </table>
      <MFA enabled={mfaEnabled} onChange={setMFAEnabled} />
    </section>
  );
}

/// Two-factor login: the secret as a QR code (drawn here from the otpauth URI; it never leaves
/// the page) and as base32 text; enabled once a code from the app checks out.
function MFA(props: { enabled: boolean; onChange: (enabled: boolean) => void }) {
  const enabled = props.enabled, setEnabled = props.onChange;
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [setup, setSetup] = useState<{ secret: string; otpauth_uri: string } | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [failure, setFailure] = useState<unknown>(null);

  async function act(event: FormEvent, what: () => Promise<void>) {
    event.preventDefault();
    setFailure(null);
    setMessage(null);
    try { await what(); } catch (e) { setFailure(e); }
  }
  const svg = (() => {
    if (!setup) return "";
    const qr = qrcode(0, "M");
    qr.addData(setup.otpauth_uri);
    qr.make();
    return qr.createSvgTag({ cellSize: 4, margin: 4, scalable: true });
  })();

  return (
    <div className="mt-4" aria-labelledby="mfa-title">
      <h3 id="mfa-title" className="h6">Two-factor login (TOTP)</h3>
      <p className="small" data-testid="mfa-state">{enabled ? "Enabled: logins ask for a code from your authenticator app." : "Not enabled."}</p>
      <ErrorBox error={failure} />
      {message && <div className="alert alert-success" role="status">{message}</div>}
      {!enabled && !setup && (
        <form className="row g-2 align-items-end" aria-label="Set up two-factor login"
              onSubmit={(e) => act(e, async () => {
                setSetup(await api("POST", "/api/v1/auth/mfa/setup", { password }));
                setPassword("");
              })}>
          <div className="col-12 col-md-3">
            <label htmlFor="mfa-password" className="form-label">Your password</label>
            <input id="mfa-password" type="password" className="form-control" required autoComplete="current-password"
                   value={password} onChange={(e) => setPassword(e.target.value)} />
          </div>
          <div className="col-auto"><button className="btn btn-outline-primary">Set up</button></div>
        </form>
      )}
      {!enabled && setup && (
        <form className="row g-3 align-items-end" aria-label="Confirm two-factor login"
              onSubmit={(e) => act(e, async () => {
                await api("POST", "/api/v1/auth/mfa/verify", { code });
                setEnabled(true);
                setSetup(null);
                setCode("");
                setMessage("Two-factor login is on.");
              })}>
          <div className="col-12 col-md-auto">
            <div className="qr bg-white p-1 rounded" style={{ width: 200 }} role="img" aria-label="QR code of the authenticator secret"
                 dangerouslySetInnerHTML={{ __html: svg }} />
          </div>
          <div className="col-12 col-md-4">
            <p className="small mb-1">Scan the code with your authenticator app, or type the secret:</p>
            <code className="d-block mb-2 text-break" data-testid="mfa-secret">{setup.secret}</code>
            <label htmlFor="mfa-setup-code" className="form-label">Code from the app</label>
            <input id="mfa-setup-code" className="form-control" inputMode="numeric" autoComplete="one-time-code" required
                   value={code} onChange={(e) => setCode(e.target.value)} />
          </div>
          <div className="col-auto"><button className="btn btn-primary">Enable</button></div>
        </form>
      )}
      {enabled && (
        <form className="row g-2 align-items-end" aria-label="Turn off two-factor login"
              onSubmit={(e) => act(e, async () => {
                await api("POST", "/api/v1/auth/mfa/disable", { password, code });
                setEnabled(false);
                setPassword("");
                setCode("");
                setMessage("Two-factor login is off.");
              })}>
          <div className="col-12 col-md-3">
            <label htmlFor="mfa-off-password" className="form-label">Your password</label>
            <input id="mfa-off-password" type="password" className="form-control" required autoComplete="current-password"
                   value={password} onChange={(e) => setPassword(e.target.value)} />
          </div>
          <div className="col-6 col-md-2">
            <label htmlFor="mfa-off-code" className="form-label">Code</label>
            <input id="mfa-off-code" className="form-control" inputMode="numeric" required value={code} onChange={(e) => setCode(e.target.value)} />
          </div>
          <div className="col-auto"><button className="btn btn-outline-danger">Turn off</button></div>
        </form>
      )}
    </div>
  );
}
