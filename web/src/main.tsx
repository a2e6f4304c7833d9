import { useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { api, currentToken, onTokenChange, setToken, User } from "./api";
import { Alerts } from "./pages/Alerts";
import { Devices } from "./pages/Devices";
import { Login } from "./pages/Login";
import { Overview } from "./pages/Overview";
import { applyTheme, storedTheme, Theme } from "./theme";

const pages: Record<string, { title: string; render: () => JSX.Element }> = {
  overview: { title: "Overview", render: () => <Overview /> },
  devices: { title: "Devices", render: () => <Devices /> },
  alerts: { title: "Alerts", render: () => <Alerts /> },
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
  const [user, setUser] = useState<User | null>(null);
  useEffect(() => {
    api<User>("GET", "/api/v1/auth/whoami").then(setUser, () => undefined);
  }, []);
  const current = pages[page] ?? pages.overview;
  return (
    <>
      <nav className="navbar navbar-expand border-bottom mb-3" aria-label="Main">
        <div className="container-fluid flex-wrap gap-2">
          <span className="navbar-brand">WaddlePerf</span>
          <ul className="navbar-nav me-auto flex-wrap">
            {Object.entries(pages).map(([id, p]) => (
              <li className="nav-item" key={id}>
                <a className={`nav-link${current === p ? " active" : ""}`} aria-current={current === p ? "page" : undefined} href={`#/${id}`}>{p.title}</a>
              </li>
            ))}
          </ul>
          <ThemeSelect />
          <span className="small text-muted" data-testid="whoami">{user ? `${user.username} (${user.role})` : ""}</span>
          <button className="btn btn-sm btn-outline-secondary"
                  onClick={() => { api("POST", "/api/v1/auth/logout").finally(() => setToken(null)); }}>Log out</button>
        </div>
      </nav>
      <main className="container-fluid">{current.render()}</main>
    </>
  );
}

function App() {
  const [token, setTokenState] = useState(currentToken());
  useEffect(() => onTokenChange(() => setTokenState(currentToken())), []);
  return token ? <Shell /> : <Login />;
}

applyTheme(storedTheme());
createRoot(document.getElementById("root")!).render(<App />);
