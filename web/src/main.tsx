import { useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { api, loggedIn, onSessionChange, setSession, User } from "./api";
import { Account } from "./pages/Account";
import { Alerts } from "./pages/Alerts";
import { Devices } from "./pages/Devices";
import { Enrollment } from "./pages/Enrollment";
import { Login } from "./pages/Login";
import { Overview } from "./pages/Overview";
import { Audit } from "./pages/Audit";
import { Configs } from "./pages/Configs";
import { Dashboard } from "./pages/Dashboard";
import { Results } from "./pages/Results";
import { ServerKeys } from "./pages/ServerKeys";
import { SpeedTest } from "./pages/SpeedTest";
import { TestClient } from "./pages/TestClient";
import { Units } from "./pages/Units";
import { Users } from "./pages/Users";
import { Session, SessionContext, sessionFor } from "./session";
import { applyTheme, storedTheme, Theme } from "./theme";

interface Page {
  title: string;
  render: () => JSX.Element;
  /// Shown to this session only.
  shown?: (s: Session) => boolean;
}

const pages: Record<string, Page> = {
  overview: { title: "Overview", render: () => <Overview /> },
  dashboard: { title: "Dashboards", render: () => <Dashboard /> },
  results: { title: "Results", render: () => <Results /> },
  tests: { title: "Tests", render: () => <TestClient /> },
  speed: { title: "Speed test", render: () => <SpeedTest /> },
  devices: { title: "Devices", render: () => <Devices />, shown: (s) => s.canReadDirectory },
  alerts: { title: "Alerts", render: () => <Alerts />, shown: (s) => s.canReadDirectory },
  users: { title: "Users", render: () => <Users />, shown: (s) => s.canReadDirectory },
  units: { title: "Units", render: () => <Units />, shown: (s) => s.canReadDirectory },
  enrollment: { title: "Enrollment", render: () => <Enrollment />, shown: (s) => s.canWrite },
  configs: { title: "Configs", render: () => <Configs />, shown: (s) => s.canWrite },
  "server-keys": { title: "Server keys", render: () => <ServerKeys />, shown: (s) => s.canManageServerKeys },
  audit: { title: "Audit", render: () => <Audit />, shown: (s) => s.canAudit },
  account: { title: "Account", render: () => <Account /> },
};

function useHashPage(): string {
  const read = () => window.location.hash.replace(/^#\/?/, "") || "overview";
  const [page, setPage] = useState(read);
  useEffect(() => {
    const changed = () => setPage(read());
    window.addEventListener("hashchange", changed);
    return () => window.removeEventListener("hashchange", changed);
  }, []);
  return page;
}

function ThemeSelect() {
  const [theme, setTheme] = useState<Theme>(storedTheme());
  return (
    <div className="d-flex align-items-center gap-2">
      <label htmlFor="theme" className="small text-muted">Theme</label>
      <select id="theme" className="form-select form-select-sm" value={theme}
              onChange={(e) => { const t = e.target.value as Theme; setTheme(t); applyTheme(t); }}>
        <option value="auto">Automatic</option>
        <option value="light">Light</option>
        <option value="dark">Dark</option>
      </select>
    </div>
  );
}

function Shell() {
  const page = useHashPage();
  const [session, setUserSession] = useState<Session | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  useEffect(() => {
    // A 401 ends the session (api() sends the page back to the login); anything else is shown.
    api<User>("GET", "/api/v1/auth/whoami").then((u) => setUserSession(sessionFor(u)),
                                                  (e) => setFailure(e instanceof Error ? e.message : String(e)));
  }, []);
  if (!session) {
    return (
      <main className="container py-5" aria-busy={!failure}>
        {failure ? <div className="alert alert-danger" role="alert">The server did not answer who you are: {failure}</div> : "Loading…"}
      </main>
    );
  }
  const visible = Object.entries(pages).filter(([, p]) => !p.shown || p.shown(session));
  const current = (visible.find(([id]) => id === page) ?? visible[0])[1];
  return (
    <SessionContext.Provider value={session}>
      <nav className="navbar navbar-expand border-bottom mb-3" aria-label="Main">
        <div className="container-fluid flex-wrap gap-2">
          <span className="navbar-brand">WaddlePerf</span>
          <ul className="navbar-nav me-auto flex-wrap">
            {visible.map(([id, p]) => (
              <li className="nav-item" key={id}>
                <a className={`nav-link${current === p ? " active" : ""}`} aria-current={current === p ? "page" : undefined} href={`#/${id}`}>{p.title}</a>
              </li>
            ))}
          </ul>
          <ThemeSelect />
          <span className="small text-muted" data-testid="whoami">{`${session.user.username} (${session.user.role})`}</span>
          <button className="btn btn-sm btn-outline-secondary"
                  onClick={() => { api("POST", "/api/v1/auth/logout").finally(() => setSession(null)); }}>Log out</button>
        </div>
      </nav>
      <main className="container-fluid">{current.render()}</main>
    </SessionContext.Provider>
  );
}

function App() {
  const [session, setSessionState] = useState(loggedIn());
  useEffect(() => onSessionChange(() => setSessionState(loggedIn())), []);
  return session ? <Shell /> : <Login />;
}

applyTheme(storedTheme());
createRoot(document.getElementById("root")!).render(<App />);
