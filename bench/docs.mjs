// The documents of a bench run. Each one is distinct (its number and a line or two change with
// its index) and the same for every peer: document `i` of a kind is the same bytes for the
// script, an old pixelproof and the current one.
//
// - html-font: a 3-page A4 invoice whose font (fonts/dejavu/DejaVuSans.ttf, 760 KB) is inlined
//   as a base64 data: URL (about 1 MB of HTML). pixelproof gets it as an HTML job; the script
//   through setContent.
// - invoice, report: the bundled templates with a fixture (templates/NAME/fixtures/*.json) whose
//   printed number changes per document. pixelproof gets template jobs; the script gets the
//   document pixelproof renders for that data (`pixelproof render --save-document DIR`).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const KINDS = ['html-font', 'invoice', 'report'];

// Print options pixelproof uses for an HTML job with {"paper": "A4"} (src/job.rs defaults:
// A4 = 8.27 × 11.69 in, 10 mm margins; src/render/print.rs: printBackground and
// preferCSSPageSize on). Puppeteer's `format: 'A4'` would be 8.27 × 11.7 in: not the same page.
export const HTML_FONT_PRINT = {
  paperWidth: 8.27,
  paperHeight: 11.69,
  marginTop: 10 / 25.4,
  marginBottom: 10 / 25.4,
  marginLeft: 10 / 25.4,
  marginRight: 10 / 25.4,
  landscape: false,
  scale: 1,
  printBackground: true,
  preferCSSPageSize: true,
  displayHeaderFooter: false,
};

const ITEMS = [
  ['Brass ball valve, full bore, 25 mm, PN25', 1845],
  ['Gate valve, ductile iron, 50 mm, flanged', 11250],
  ['Swing check valve, bronze, 32 mm', 4720],
  ['Thermostatic mixing valve, 15 mm, TMV3', 5460],
  ['Copper pipe, 22 mm × 3 m, table X', 3120],
  ['Press-fit elbow 90°, 15 mm, copper', 215],
  ['Pipe insulation, 22 mm ID × 13 mm wall, 2 m', 342],
  ['Pressure transmitter, 0–10 bar, 4–20 mA', 12480],
  ['Circulator pump, 25 mm, variable speed', 28990],
  ['Installation labour, mechanical fitter (hours)', 5850],
  ['Commissioning engineer, on site (hours)', 7800],
  ['Delivery, depot to site, tail-lift vehicle', 9500],
];
const ROWS = 95; // three A4 pages with the header block and the totals

const money = (pence) => '£' + (pence / 100).toLocaleString('en-GB', { minimumFractionDigits: 2, maximumFractionDigits: 2 });

export class Documents {
  constructor(root) {
    this.root = root;
    this._font = null;
    this._fixtures = {};
  }

  fontBase64() {
    if (!this._font) this._font = readFileSync(join(this.root, 'fonts/dejavu/DejaVuSans.ttf')).toString('base64');
    return this._font;
  }

  /** The HTML of html-font document `i`. */
  htmlFont(i) {
    const number = `INV-BENCH-${String(i).padStart(5, '0')}`;
    const rows = [];
    let total = 0;
    for (let r = 0; r < ROWS; r++) {
      const [desc, price] = ITEMS[(r + i) % ITEMS.length];
      const qty = 1 + ((r * 7 + i * 3) % 23);
      const line = qty * price;
      total += line;
      const extra = r === (i % ROWS) ? ` — revision ${i}` : '';
      rows.push(
        `<tr><td class="n">${r + 1}</td><td>${desc}${extra}</td><td class="r">${qty}</td>` +
          `<td class="r">${money(price)}</td><td class="r">${money(line)}</td></tr>`,
      );
    }
    return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Invoice ${number}</title>
<style>
@font-face { font-family: InvoiceSans; src: url(data:font/ttf;base64,${this.fontBase64()}) format("truetype"); }
body { font-family: InvoiceSans; font-size: 10pt; color: #1d2733; margin: 0; }
header { display: flex; justify-content: space-between; border-bottom: 2px solid #1f5f8b; padding-bottom: 4mm; margin-bottom: 6mm; }
h1 { font-size: 20pt; margin: 0; color: #1f5f8b; }
.meta td { padding: 0 0 0 6mm; }
table.items { width: 100%; border-collapse: collapse; }
table.items th { background: #1f5f8b; color: #fff; text-align: left; padding: 1.6mm 2mm; }
table.items td { padding: 1.3mm 2mm; border-bottom: 0.2mm solid #d5dbe3; }
table.items tr:nth-child(even) td { background: #f3f6f9; }
td.r, th.r { text-align: right; } td.n { color: #5f6b7a; width: 8mm; }
.total { margin-top: 6mm; text-align: right; font-size: 13pt; }
thead { display: table-header-group; } tr { break-inside: avoid; }
</style></head>
<body>
<header><div><h1>Invoice ${number}</h1><div>Halden &amp; Voss Engineering Ltd · Leeds</div>
<div>Bill to: Brightwater Facilities Management plc, account ${10000 + i}</div></div>
<table class="meta"><tr><td>Number</td><td><b>${number}</b></td></tr><tr><td>Issued</td><td>14 March 2025</td></tr>
<tr><td>Due</td><td>13 April 2025</td></tr></table></header>
<table class="items"><thead><tr><th>#</th><th>Description</th><th class="r">Qty</th><th class="r">Unit</th><th class="r">Amount</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table>
<p class="total">Total due: <b>${money(total)}</b></p>
<p>Please quote ${number} with your payment. Thank you for your business.</p>
</body></html>
`;
  }

  fixture(kind) {
    if (!this._fixtures[kind]) {
      const file = kind === 'invoice' ? 'templates/invoice/fixtures/basic.json' : 'templates/report/fixtures/quarterly.json';
      this._fixtures[kind] = readFileSync(join(this.root, file), 'utf8');
    }
    return JSON.parse(this._fixtures[kind]);
  }

  /** The template data of document `i` of a template kind: its printed number changes. */
  templateData(kind, i) {
    const data = this.fixture(kind);
    if (kind === 'invoice') {
      data.invoice.number = `INV-BENCH-${String(i).padStart(5, '0')}`; // printed twice on page 1
    } else if (kind === 'report') {
      data.report.version = `1.2 (bench ${i})`; // printed on the cover
    } else {
      throw new Error(`no template kind ${kind}`);
    }
    return data;
  }

  /** The body of POST /v1/jobs (and /v1/render) for document `i` of `kind`. */
  request(kind, i) {
    if (kind === 'html-font') return { html: this.htmlFont(i), options: { paper: 'A4' } };
    return { template: kind, data: this.templateData(kind, i) };
  }
}
