import type { StoredFile } from '../db/artifacts.ts';
import { FILE_PART_BYTES, type StoredUpload, type UploadStore } from '../db/uploads.ts';
import { fileSize, type NewDatasetFile } from '../db/workflows.ts';
import { AppError } from '../errors.ts';
import { parseInputs } from '../handlers/index.ts';
import { MAX_JSON_DEPTH, jsonDepth } from '../handlers/json.ts';
import type { FileFormat, Table } from '../handlers/types.ts';

/** One uploaded file as the API received it: text, base64 text, raw bytes, or a raw body streamed into storage. */
export type UploadFile = { name: string; format?: string | null } & (
  | { encoding?: 'utf8' | 'base64'; content: string | Uint8Array; upload?: undefined }
  | { encoding?: undefined; content?: undefined; upload: StoredUpload }
);

const BASE64 = /^[A-Za-z0-9+/\r\n]*={0,2}\s*$/;
const MB = 1048576;

/** The upload, or the request carrying it, is over the limit per workflow (MAX_UPLOAD_MB). */
export class UploadTooLargeError extends AppError {
  constructor(limitBytes: number, sizeBytes?: number) {
    super(
      'PAYLOAD_TOO_LARGE',
      sizeBytes === undefined
        ? `The request body is larger than the ${Math.round(limitBytes / MB)} MB upload limit (MAX_UPLOAD_MB).`
        : `The files add up to ${(sizeBytes / MB).toFixed(1)} MB, over the limit of ${(limitBytes / MB).toFixed(0)} MB per workflow (MAX_UPLOAD_MB).`,
      { status: 413, details: sizeBytes === undefined ? { limitBytes } : { limitBytes, sizeBytes } },
    );
  }
}

export type { StoredUpload } from '../db/uploads.ts';

// The edge's text checks: the server validates names, reasons and query values with them.
export { UNSTORABLE_TEXT_MESSAGE, isStorableText, printable } from '../handlers/storable.ts';

/** Refuses JSON nested deeper than MAX_JSON_DEPTH before anything parses (and overflows on) it. */
export function assertJsonDepth(text: string, what: string): void {
  if (jsonDepth(text) > MAX_JSON_DEPTH) {
    throw new AppError('JSON_TOO_DEEP', `${what} nests deeper than ${MAX_JSON_DEPTH} levels, which no CMDB export does; send a flat array of records.`, {
      details: { maxDepth: MAX_JSON_DEPTH },
    });
  }
}

function decodeFile(file: UploadFile, index: number): NewDatasetFile {
  const format = file.format ?? null;
  if (file.upload) return { name: file.name, format, upload: file.upload };
  if (typeof file.content !== 'string') return { name: file.name, format, content: file.content };
  if (file.encoding === 'base64') {
    if (!BASE64.test(file.content)) {
      throw new AppError('INVALID_FILE_ENCODING', `files[${index}] (${file.name}): content is declared base64 but is not valid base64.`);
    }
    return { name: file.name, format, content: new Uint8Array(Buffer.from(file.content, 'base64')) };
  }
  return { name: file.name, format, content: new TextEncoder().encode(file.content) };
}

/**
 * Decodes an upload and checks it before anything is stored: the one size check of the service, no
 * empty file, and every file parsed now, so an unreadable file is a 400 naming it rather than a
 * workflow that fails later. `parse` may do it elsewhere (a step worker, for a big upload) and
 * return null; parsed here, the tables go to the first step, which then parses nothing.
 */
export async function checkUpload(
  upload: UploadFile[],
  maxBytes: number,
  parse: (files: NewDatasetFile[]) => Promise<Table[] | null> = (files) => readFiles(files.map(inMemory)),
): Promise<{ files: NewDatasetFile[]; tables: Table[] | null }> {
  const files = upload.map(decodeFile);
  const total = files.reduce((n, f) => n + fileSize(f), 0);
  if (total > maxBytes) throw new UploadTooLargeError(maxBytes, total);
  files.forEach((f, i) => {
    if (fileSize(f) === 0) throw new AppError('EMPTY_FILE', `files[${i}] (${f.name}) is empty; upload a file with a header row and records.`);
  });
  return { files, tables: await parse(files) };
}

function inMemory(file: NewDatasetFile): StoredFile {
  if (!file.content) throw new Error(`${file.name} was streamed into storage: parse it with a parseUpload that reads uploads.`);
  return { name: file.name, format: file.format, content: file.content };
}

/**
 * The files with their bytes in memory: a streamed upload read back from its parts into a buffer
 * of its own, listed in `moved` so it can be moved (not copied) to a step thread.
 */
export async function withContent(files: NewDatasetFile[], read: (upload: StoredUpload) => Promise<Uint8Array>): Promise<{ files: StoredFile[]; moved: ArrayBuffer[] }> {
  const moved: ArrayBuffer[] = [];
  const loaded: StoredFile[] = [];
  for (const f of files) {
    if (f.content) loaded.push({ name: f.name, format: f.format, content: f.content });
    else {
      const content = await read(f.upload);
      moved.push(content.buffer as ArrayBuffer);
      loaded.push({ name: f.name, format: f.format, content });
    }
  }
  return { files: loaded, moved };
}

/** Where receiveUpload writes a body larger than one part. */
export type UploadSink = Pick<UploadStore, 'newUploadId' | 'putUploadPart' | 'dropUpload'>;

/**
 * Reads a raw request body a part at a time: a body of at most one part (FILE_PART_BYTES) comes
 * back as bytes; a larger one is written to the database part by part as it arrives, so the
 * process never holds more than one part of it, and comes back as the stored upload. Over
 * `maxBytes` it stops reading, deletes what it wrote and refuses with 413; a body cut off or a
 * failed write deletes what was written too.
 */
export async function receiveUpload(
  body: AsyncIterable<Uint8Array> | null,
  maxBytes: number,
  sink: UploadSink,
  partBytes = FILE_PART_BYTES,
): Promise<{ content: Uint8Array } | { upload: StoredUpload }> {
  const part = Buffer.allocUnsafeSlow(partBytes);
  let filled = 0;
  let total = 0;
  let uploadId: string | null = null;
  let parts = 0;
  const flush = async () => {
    uploadId ??= sink.newUploadId();
    await sink.putUploadPart(uploadId, parts++, part.subarray(0, filled));
    filled = 0;
  };
  try {
    // Leaving the loop early (over the limit, a failed write) cancels the body's stream.
    for await (const value of body ?? []) {
      total += value.byteLength;
      if (total > maxBytes) throw new UploadTooLargeError(maxBytes);
      for (let offset = 0; offset < value.byteLength; ) {
        if (filled === partBytes) await flush();
        const taken = Math.min(partBytes - filled, value.byteLength - offset);
        part.set(value.subarray(offset, offset + taken), filled);
        filled += taken;
        offset += taken;
      }
    }
    if (uploadId === null) {
      // Small: the bytes themselves, in a buffer of their size (the part's buffer is let go).
      const content = new Uint8Array(filled);
      content.set(part.subarray(0, filled));
      return { content };
    }
    if (filled > 0) await flush();
    return { upload: { id: uploadId, sizeBytes: total } };
  } catch (error) {
    if (uploadId !== null) await sink.dropUpload(uploadId).catch(() => {});
    throw error;
  }
}

/** Parses stored files into tables; their size was checked at upload. */
export function readFiles(files: readonly StoredFile[]): Promise<Table[]> {
  return parseInputs(
    files.map((f) => ({ name: f.name, content: f.content, ...(f.format ? { format: f.format as FileFormat } : {}) })),
    { maxBytes: Number.POSITIVE_INFINITY },
  );
}
