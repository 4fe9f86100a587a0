// asciichart ships no types; this declares the part pcomp uses.
declare module 'asciichart' {
  export interface PlotConfig {
    height?: number;
    min?: number;
    max?: number;
    offset?: number;
    padding?: string;
    colors?: string[];
    format?: (value: number, index: number) => string;
  }
  export function plot(series: number[] | number[][], config?: PlotConfig): string;
  export const black: string, red: string, green: string, yellow: string, blue: string, magenta: string, cyan: string,
    lightgray: string, darkgray: string, lightred: string, lightgreen: string, lightyellow: string, lightblue: string,
    lightmagenta: string, lightcyan: string, white: string, reset: string;
  const asciichart: { plot: typeof plot } & Record<string, string>;
  export default asciichart;
}
