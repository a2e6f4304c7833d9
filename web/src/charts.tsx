import { Chart, ChartData, registerables } from "chart.js";
import { useEffect, useRef } from "react";

Chart.register(...registerables);

/// A Chart.js chart on a canvas, created once and updated in place (no animation) when its
/// data or options change. `label` names it for screen readers; `testid` for the browser tests.
export function ChartView(props: { type: string; data: ChartData; options?: Record<string, unknown>; height?: number;
                                   label: string; testid?: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const chart = useRef<Chart | null>(null);
  useEffect(() => {
    if (!canvas.current) return;
    chart.current = new Chart(canvas.current, { type: props.type, data: props.data, options: withDefaults(props.options) });
    return () => { chart.current?.destroy(); chart.current = null; };
    // The chart is made once per type; data and options are updated below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [props.type]);
  useEffect(() => {
    const c = chart.current;
    if (!c) return;
    c.data = props.data;
    c.options = withDefaults(props.options);
    c.update("none");
    const points = props.data.datasets.reduce((n, d) => n + d.data.length, 0);
    if (canvas.current) {
      canvas.current.dataset.points = String(points);
      // The first time this chart draws data: what the dashboard benchmark times.
      if (points > 0 && !canvas.current.dataset.drawn) {
        canvas.current.dataset.drawn = "1";
        performance.mark(`chart-data:${props.testid ?? props.label}`);
      }
    }
  }, [props.data, props.options]);
  return (
    <div style={{ position: "relative", height: props.height ?? 260 }}>
      <canvas ref={canvas} role="img" aria-label={props.label} data-testid={props.testid} />
    </div>
  );
}

function withDefaults(options?: Record<string, unknown>): Record<string, unknown> {
  const text = getComputedStyle(document.body).color;
  return { responsive: true, maintainAspectRatio: false, animation: false, color: text,
           interaction: { mode: "index", intersect: false }, ...options };
}

/// Points drawn only where there are few (a line of one bucket is otherwise invisible).
export function pointRadius(n: number): number {
  return n < 40 ? 2 : 0;
}

/// Colours that read on light and dark backgrounds.
export const palette = ["#0d6efd", "#d63384", "#198754", "#fd7e14", "#6f42c1", "#20c997", "#dc3545", "#0dcaf0"];

/// A linear x axis of epoch milliseconds over the window, labelled as local times (dates for
/// long ranges).
export function timeAxis(since: number, until: number): Record<string, unknown> {
  const long = until - since > 2 * 86_400_000;
  return {
    type: "linear",
    min: since,
    max: until,
    ticks: {
      maxTicksLimit: 8,
      callback: (value: number) => {
        const d = new Date(value);
        return long ? d.toLocaleDateString(undefined, { month: "short", day: "numeric" })
          : d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
      },
    },
  };
}
