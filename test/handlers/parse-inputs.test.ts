import ExcelJS from 'exceljs';
import { describe, expect, it } from 'vitest';
import { parseInputs } from '../../src/handlers/index.ts';
import { azureDependencyCsv, latin1, messySpreadsheetXlsx, netboxFixtureJson, serviceNowCiCsv, utf16, utf8 } from '../fixtures/generate.ts';
import { file, rejection } from './run-pipeline.ts';

describe('parseInputs: CSV', () => {
  it('reads a CRLF ServiceNow export with quoted newlines, "" escapes and thousands separators', async () => {
    const { csv } = serviceNowCiCsv({ rows: 30 });
    const [table] = await parseInputs([file('cmdb_ci.csv', csv)]);
    expect(table.rows).toHaveLength(30);
    expect(table.columns[0]).toBe('sys_id');
    expect(table.delimiter).toBe(',');
    const note = table.rows.find((row) => typeof row.short_description === 'string');
    expect(note?.short_description).toBe('Line one of the note\nsecond line with "quotes", and a comma');
    expect(table.rows.some((row) => row.ram === '16,384' || row.ram === '8,192' || row.ram === '65,536')).toBe(true);
  });

  it('detects semicolon, tab and pipe delimiters', async () => {
    for (const delimiter of [';', '\t', '|']) {
      const text = ['name', 'ip', 'note'].join(delimiter) + '\n' + ['web01', '10.0.0.1', '"a, b"'].join(delimiter) + '\n';
      const [table] = await parseInputs([file('x.csv', text)]);
      expect(table.delimiter).toBe(delimiter);
      expect(table.rows[0]).toEqual({ name: 'web01', ip: '10.0.0.1', note: 'a, b' });
    }
  });

  it('strips the UTF-8 BOM from the first header and from stray BOMs inside the data', async () => {
    const [table] = await parseInputs([file('deps.csv', azureDependencyCsv({ rows: 3 }))]);
    expect(table.encoding).toBe('utf-8-bom');
    expect(table.columns[0]).toBe('Time slot');
    const [stray] = await parseInputs([file('stray.csv', utf8('a,b\r\n\ufeff1,2\r\n', true))]);
    expect(stray.rows[0]).toEqual({ a: '1', b: '2' });
  });

  it('decodes UTF-16 LE and BE exports that start with a BOM', async () => {
    const text = 'name\tlocation\r\nsrv-zürich\tZürich\r\n';
    for (const order of ['le', 'be'] as const) {
      const [table] = await parseInputs([file('unicode.txt', utf16(text, order))]);
      expect(table.encoding).toBe(`utf-16${order}`);
      expect(table.rows[0]).toEqual({ name: 'srv-zürich', location: 'Zürich' });
    }
  });

  it('falls back to Latin-1 when the bytes are not valid UTF-8', async () => {
    const [table] = await parseInputs([file('legacy.csv', latin1('name;owner\r\nsrv01;Jürgen Müller\r\n'))]);
    expect(table.encoding).toBe('latin1');
    expect(table.rows[0].owner).toBe('Jürgen Müller');
  });

  it('keeps a file with a header and no rows as an empty table', async () => {
    const [table] = await parseInputs([file('empty.csv', 'name,ip\r\n')]);
    expect(table.columns).toEqual(['name', 'ip']);
    expect(table.rows).toHaveLength(0);
  });

  it('names blank and repeated headers and keeps extra trailing fields', async () => {
    const [table] = await parseInputs([file('x.csv', 'name,,name\nweb01,a,b,extra\n')]);
    expect(table.columns).toEqual(['name', 'column_2', 'name_2', 'column_4']);
    expect(table.rows[0].column_4).toBe('extra');
  });
});

describe('parseInputs: JSON', () => {
  it('reads an array of records and a { records } envelope, flattening nested objects', async () => {
    const records = [{ name: 'web01', hardware: { cpu: 4, ram: '16 GB' }, ips: ['10.0.0.1', '10.0.0.2'], owner: { display_value: 'Jane', value: 'abc' } }];
    for (const content of [JSON.stringify(records), JSON.stringify({ records })]) {
      const [table] = await parseInputs([file('cis.json', content)]);
      expect(table.format).toBe('json');
      expect(table.rows[0]).toEqual({ name: 'web01', 'hardware.cpu': 4, 'hardware.ram': '16 GB', ips: '10.0.0.1; 10.0.0.2', owner: 'Jane' });
    }
  });

  it('turns a NetBox fixture into device, VM, cluster and cable tables with references resolved', async () => {
    const tables = await parseInputs([file('netbox.json', netboxFixtureJson())]);
    expect(tables.map((table) => table.id)).toEqual(['netbox.json#dcim.device', 'netbox.json#virtualization.virtualmachine', 'netbox.json#virtualization.cluster', 'netbox.json#dcim.cable']);
    const [devices, vms, , cables] = tables;
    expect(devices.rows[0]).toMatchObject({ id: 'dcim.device:1', name: 'akron-rtr01', device_type: 'MX480', manufacturer: 'Juniper', role: 'Router', site: 'dm-akron', platform: 'Cisco IOS', primary_ip4: '10.0.0.1/24', cf_owner_team: 'netops' });
    expect(devices.columns).not.toContain('_name');
    expect(vms.rows[0]).toMatchObject({ name: 'vm-web01', cluster: 'CL-AKRON', device: 'akron-esx01', primary_ip4: '10.0.1.10/24' });
    expect(vms.rows[1]).toMatchObject({ name: 'vm-db01', cluster: 'CL-AKRON', ip_addresses: '10.0.1.11/24' });
    expect(cables.rows).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ a_device: 'dcim.device:1', b_device: 'dcim.device:2', relation: 'Cabled to' }),
        expect.objectContaining({ a_device: 'dcim.device:2', b_device: 'dcim.device:3' }),
        expect.objectContaining({ a_device: 'circuit:DEOW4921', b_device: 'dcim.device:1' }),
      ]),
    );
  });
});

describe('parseInputs: XLSX', () => {
  it('makes a table of each sheet with data, skipping a title row above the header', async () => {
    const tables = await parseInputs([file('inventory.xlsx', await messySpreadsheetXlsx())]);
    expect(tables.map((table) => table.id)).toEqual(['inventory.xlsx#Servers', 'inventory.xlsx#Applications']);
    expect(tables[0].columns).toEqual(['Server', 'IP Address', 'RAM', 'Disk', 'vCPU', 'Env', 'Operating System', 'Labels']);
    expect(tables[0].rows[0]).toMatchObject({ Server: 'app-prd-01', RAM: '16 GB', vCPU: 4 });
    expect(tables[0].rows).toHaveLength(7);
  });

  it('keeps the file name as table id for a single-sheet workbook and sniffs the format without an extension', async () => {
    const workbook = new ExcelJS.Workbook();
    const sheet = workbook.addWorksheet('Sheet1');
    sheet.addRow(['name', 'installed']);
    sheet.addRow(['web01', new Date(Date.UTC(2024, 0, 2))]);
    const bytes = new Uint8Array((await workbook.xlsx.writeBuffer()) as ArrayBuffer);
    const [table] = await parseInputs([file('upload', bytes)]);
    expect(table.id).toBe('upload');
    expect(table.format).toBe('xlsx');
    expect(table.rows[0]).toEqual({ name: 'web01', installed: '2024-01-02' });
  });
});

describe('parseInputs: format detection and data errors', () => {
  it('sniffs JSON and CSV when the name has no extension and honours an explicit format', async () => {
    const [json] = await parseInputs([file('export', '  [{"name":"a"}]')]);
    expect(json.format).toBe('json');
    const [csv] = await parseInputs([{ name: 'export.dat', format: 'csv', content: utf8('name\na\n') }]);
    expect(csv.rows).toEqual([{ name: 'a' }]);
  });

  it('rejects an empty file with UNREADABLE_FILE naming the file', async () => {
    const error = await rejection(parseInputs([file('empty.csv', new Uint8Array())]));
    expect(error.code).toBe('UNREADABLE_FILE');
    expect(error.message).toContain('"empty.csv"');
    const blank = await rejection(parseInputs([file('blank.csv', '\r\n  \r\n')]));
    expect(blank.message).toContain('"blank.csv" is empty');
  });

  it('rejects binary garbage, broken JSON, legacy .xls and a fake .xlsx', async () => {
    const garbage = Uint8Array.from({ length: 2048 }, (_, index) => (index * 7919) % 256);
    const cases: [string, Uint8Array | string, RegExp][] = [
      ['garbage.csv', garbage, /not readable text/],
      ['broken.json', '[{"name": "a",', /not valid JSON/],
      ['scalar.json', '42', /no array of records/],
      ['old.xls', 'whatever', /legacy Excel/],
      ['fake.xlsx', 'name,ip\n', /not an Excel workbook/],
    ];
    for (const [name, content, problem] of cases) {
      const error = await rejection(parseInputs([file(name, content)]));
      expect(error.code).toBe('UNREADABLE_FILE');
      expect(error.message).toContain(`"${name}"`);
      expect(error.message).toMatch(problem);
      expect(error.hint).toBeTruthy();
    }
  });

  it('rejects uploads over the size limit with the limit in the message', async () => {
    const error = await rejection(parseInputs([file('a.csv', 'name\nweb01\n'), file('b.csv', 'name\nweb02\n')], { maxBytes: 16 }));
    expect(error.code).toBe('INPUT_TOO_LARGE');
    expect(error.message).toContain('16 bytes');
  });

  it('keeps two uploads with the same name apart', async () => {
    const tables = await parseInputs([file('cis.csv', 'name\na\n'), file('cis.csv', 'name\nb\n')]);
    expect(tables.map((table) => table.id)).toEqual(['cis.csv', 'cis.csv~2']);
  });
});

describe('parseInputs: what the database cannot hold', () => {
  it('refuses JSON nested deeper than 64 levels before parsing it, whatever brackets its strings hold', async () => {
    const deep = `[{"name":"x","d":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}]`;
    expect(await rejection(parseInputs([file('deep.json', deep)]))).toMatchObject({ code: 'JSON_TOO_DEEP', details: { file: 'deep.json', maxDepth: 64 } });
    const [table] = await parseInputs([file('brackets.json', `[{"name":"${'[{'.repeat(100)}"}]`)]);
    expect(table.rows).toHaveLength(1);
  });

  it('refuses text with NUL or an unpaired surrogate, naming the file, row and column; paired surrogates are fine', async () => {
    expect(await rejection(parseInputs([file('n.json', '[{"name":"a"},{"name":"b\\u0000"}]')]))).toMatchObject({ code: 'UNSTORABLE_TEXT', message: expect.stringMatching(/"n\.json" row 2, column "name"/) });
    expect(await rejection(parseInputs([file('s.json', '[{"os\\ud800":"x"}]')]))).toMatchObject({ code: 'UNSTORABLE_TEXT', message: expect.stringMatching(/column name \("os\ufffd"\)/) });
    const [table] = await parseInputs([file('emoji.json', '[{"name":"web \\ud83d\\ude80"}]')]);
    expect(table.rows[0]!.name).toBe('web 🚀');
  });
});
