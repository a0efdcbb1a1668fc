// A line chart as a standalone SVG file, for the benchmarks' results (no
// dependency: a few axes, ticks and polylines are all a chart of a handful
// of points needs).

export interface Series {
  name: string;
  /** [x, y] points, in any order (drawn sorted by x). */
  points: Array<[number, number]>;
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
}

const WIDTH = 720;
const HEIGHT = 420;
const MARGIN = { left: 70, right: 170, top: 40, bottom: 55 };
const COLOURS = ['#444444', '#d62728', '#1f77b4', '#2ca02c', '#9467bd'];

/** A "nice" step for about `count` ticks over [0, max]. */
function tickStep(max: number, count = 5): number {
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = raw / power;
  return (unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 5 ? 5 : 10) * power;
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function label(value: number): string {
  return value >= 1000 ? `${(value / 1000).toLocaleString('en-US')}k` : String(Number(value.toPrecision(3)));
}

export function lineChartSvg(chart: LineChart): string {
  const all = chart.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xMax = Math.max(1, ...all.map(([x]) => x));
  const yMax = Math.max(1e-9, ...all.map(([, y]) => y));
  const xStep = tickStep(xMax);
  const yStep = tickStep(yMax);
  const xTop = Math.ceil(xMax / xStep) * xStep;
  const yTop = Math.ceil(yMax / yStep) * yStep;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const px = (x: number): number => MARGIN.left + (x / xTop) * plotW;
  const py = (y: number): number => MARGIN.top + plotH - (y / yTop) * plotH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="14">${escape(chart.title)}</text>`,
  ];
  for (let x = 0; x <= xTop + 1e-9; x += xStep) {
    out.push(`<line x1="${px(x)}" y1="${MARGIN.top}" x2="${px(x)}" y2="${MARGIN.top + plotH}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${px(x)}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${label(x)}</text>`);
  }
  for (let y = 0; y <= yTop + 1e-9; y += yStep) {
    out.push(`<line x1="${MARGIN.left}" y1="${py(y)}" x2="${MARGIN.left + plotW}" y2="${py(y)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${MARGIN.left - 6}" y="${py(y) + 4}" text-anchor="end">${label(y)}</text>`);
  }
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888888"/>`);
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 14}" text-anchor="middle">${escape(chart.xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escape(chart.yLabel)}</text>`);
  chart.series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const points = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).sort((a, b) => a[0] - b[0]);
    if (points.length > 0) {
      out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`);
      for (const [x, y] of points) out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${colour}"/>`);
    }
    const ly = MARGIN.top + 14 + i * 20;
    out.push(`<line x1="${MARGIN.left + plotW + 14}" y1="${ly - 4}" x2="${MARGIN.left + plotW + 34}" y2="${ly - 4}" stroke="${colour}" stroke-width="2"/>`);
    out.push(`<text x="${MARGIN.left + plotW + 40}" y="${ly}">${escape(s.name)}</text>`);
  });
  out.push('</svg>', '');
  return out.join('\n');
}
