// The part of Chart.js 3.9 the UI uses (Debian's libjs-chart.js ships no type declarations).
declare module "chart.js" {
  export interface ChartConfiguration {
    type: string;
    data: ChartData;
    options?: Record<string, unknown>;
  }
  export interface ChartDataset {
    label?: string;
    data: ({ x: number; y: number | null } | number | null)[];
    [option: string]: unknown;
  }
  export interface ChartData {
    labels?: (string | number)[];
    datasets: ChartDataset[];
  }
  export class Chart {
    constructor(canvas: HTMLCanvasElement, config: ChartConfiguration);
    data: ChartData;
    options: Record<string, unknown>;
    update(mode?: string): void;
    destroy(): void;
    static register(...items: unknown[]): void;
  }
  export const registerables: unknown[];
}
