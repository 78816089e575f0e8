import { describe, expect, it } from 'vitest';
import { checkUpload } from '../../src/engine/uploads.ts';

describe('upload check', () => {
  it('decodes text and base64 files and parses them once', async () => {
    const { files, tables } = await checkUpload(
      [
        { name: 'a.csv', content: 'name,ip\nweb01,10.0.0.1\n' },
        { name: 'b.csv', encoding: 'base64', format: 'csv', content: Buffer.from('name\ndb01\n').toString('base64') },
        { name: 'c.csv', content: new TextEncoder().encode('name\napp01\n') },
      ],
      1 << 20,
    );
    expect(files.map((f) => [f.name, f.format, new TextDecoder().decode(f.content)])).toEqual([
      ['a.csv', null, 'name,ip\nweb01,10.0.0.1\n'],
      ['b.csv', 'csv', 'name\ndb01\n'],
      ['c.csv', null, 'name\napp01\n'],
    ]);
    expect(tables!.map((t) => [t.id, t.rows.length])).toEqual([
      ['a.csv', 1],
      ['b.csv', 1],
      ['c.csv', 1],
    ]);
  });

  it('refuses an upload over the limit with 413, naming the limit', async () => {
    await expect(checkUpload([{ name: 'a.csv', content: 'x'.repeat(2048) }], 1024)).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
      status: 413,
      details: { limitBytes: 1024, sizeBytes: 2048 },
    });
  });

  it('refuses bad base64, empty files and unreadable files with a 400 naming the file', async () => {
    await expect(checkUpload([{ name: 'a.xlsx', encoding: 'base64', content: 'not base64!' }], 1 << 20)).rejects.toMatchObject({ code: 'INVALID_FILE_ENCODING', status: 400 });
    await expect(checkUpload([{ name: 'a.csv', content: '' }], 1 << 20)).rejects.toMatchObject({ code: 'EMPTY_FILE', status: 400 });
    await expect(checkUpload([{ name: 'a.xlsx', format: 'xlsx', content: 'plain text' }], 1 << 20)).rejects.toMatchObject({
      code: 'UNREADABLE_FILE',
      status: 400,
      details: { file: 'a.xlsx' },
    });
  });
});
