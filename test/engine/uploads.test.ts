import { describe, expect, it } from 'vitest';
import { checkUpload, receiveUpload, type UploadSink } from '../../src/engine/uploads.ts';

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

describe('receiveUpload', () => {
  /** A sink that keeps the parts in memory, as the database would. */
  const memorySink = () => {
    const parts = new Map<string, Map<number, Buffer>>();
    const dropped: string[] = [];
    let next = 0;
    const sink: UploadSink = {
      newUploadId: () => `u${next++}`,
      putUploadPart: async (id, part, bytes) => {
        if (!parts.has(id)) parts.set(id, new Map());
        parts.get(id)!.set(part, Buffer.from(bytes));
      },
      dropUpload: async (id) => {
        dropped.push(id);
        parts.delete(id);
      },
    };
    return { sink, parts, dropped };
  };
  /** A body sent in chunks of the given sizes; `fail` ends it with an error after them. */
  const body = (bytes: Buffer, chunks: number[], fail?: Error) => {
    let pulled = 0;
    let offset = 0;
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= bytes.length || pulled >= chunks.length) {
          if (fail) controller.error(fail);
          else controller.close();
          return;
        }
        const size = chunks[pulled++]!;
        controller.enqueue(new Uint8Array(bytes.subarray(offset, offset + size)));
        offset += size;
      },
    });
  };
  const bytes = Buffer.from(Array.from({ length: 100 }, (_, i) => i));

  it('gives a body of at most one part back as its bytes, writing nothing', async () => {
    const { sink, parts } = memorySink();
    const result = await receiveUpload(body(bytes.subarray(0, 16), [5, 11]), 1000, sink, 16);
    expect(result).toEqual({ content: new Uint8Array(bytes.subarray(0, 16)) });
    expect(parts.size).toBe(0);
    expect(await receiveUpload(null, 1000, sink, 16)).toEqual({ content: new Uint8Array(0) });
  });

  it('writes a larger body part by part, whatever the chunks, and every byte in order', async () => {
    const { sink, parts } = memorySink();
    const result = await receiveUpload(body(bytes, [7, 30, 1, 1, 40, 21]), 1000, sink, 16);
    expect(result).toEqual({ upload: { id: 'u0', sizeBytes: 100 } });
    const written = parts.get('u0')!;
    expect([...written.keys()]).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect([...written.values()].map((p) => p.length)).toEqual([16, 16, 16, 16, 16, 16, 4]);
    expect(Buffer.concat([...written.values()]).equals(bytes)).toBe(true);
  });

  it('stops at the limit with 413 and deletes what it wrote', async () => {
    const { sink, parts, dropped } = memorySink();
    const error = await receiveUpload(body(bytes, [40, 40, 20]), 60, sink, 16).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', status: 413 });
    expect(dropped).toEqual(['u0']);
    expect(parts.size).toBe(0);
  });

  it('deletes what it wrote when the body is cut off', async () => {
    const { sink, parts, dropped } = memorySink();
    await expect(receiveUpload(body(bytes, [40], new Error('client went away')), 1000, sink, 16)).rejects.toThrow('client went away');
    expect(dropped).toEqual(['u0']);
    expect(parts.size).toBe(0);
  });
});
