import type { NewDatasetFile } from '../db/workflows.ts';
import { AppError } from '../errors.ts';
import { parseInputs } from '../handlers/index.ts';
import { MAX_JSON_DEPTH, jsonDepth } from '../handlers/json.ts';
import type { FileFormat, Table } from '../handlers/types.ts';

/** One uploaded file as the API received it: text, base64 text, or raw bytes. */
export interface UploadFile {
  name: string;
  format?: string | null;
  encoding?: 'utf8' | 'base64';
  content: string | Uint8Array;
}

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
  parse: (files: NewDatasetFile[]) => Promise<Table[] | null> = readFiles,
): Promise<{ files: NewDatasetFile[]; tables: Table[] | null }> {
  const files = upload.map(decodeFile);
  const total = files.reduce((n, f) => n + f.content.byteLength, 0);
  if (total > maxBytes) throw new UploadTooLargeError(maxBytes, total);
  files.forEach((f, i) => {
    if (f.content.byteLength === 0) throw new AppError('EMPTY_FILE', `files[${i}] (${f.name}) is empty; upload a file with a header row and records.`);
  });
  return { files, tables: await parse(files) };
}

/** Parses stored files into tables; their size was checked at upload. */
export function readFiles(files: readonly NewDatasetFile[]): Promise<Table[]> {
  return parseInputs(
    files.map((f) => ({ name: f.name, content: f.content, ...(f.format ? { format: f.format as FileFormat } : {}) })),
    { maxBytes: Number.POSITIVE_INFINITY },
  );
}
