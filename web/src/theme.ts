// Light, dark or automatic (the system's preference), kept per browser; Bootstrap 5.3 reads
// `data-bs-theme` on <html>.

export type Theme = "light" | "dark" | "auto";

const key = "wp_theme";

export function storedTheme(): Theme {
  const value = localStorage.getItem(key);
  return value === "light" || value === "dark" ? value : "auto";
}

export function applyTheme(theme: Theme): void {
  localStorage.setItem(key, theme);
  const dark = theme === "dark" || (theme === "auto" && window.matchMedia("(prefers-color-scheme: dark)").matches);
  document.documentElement.setAttribute("data-bs-theme", dark ? "dark" : "light");
  document.documentElement.dataset.theme = theme;
}

window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
  if (storedTheme() === "auto") applyTheme("auto");
});
