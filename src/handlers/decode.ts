// Turns uploaded bytes into text. CMDB exports arrive as UTF-8 (with or without BOM),
// UTF-16 from Excel's "Unicode text" and Latin-1/Windows-1252 from older tools.
import { DataError } from './errors.ts';

export interface DecodedText {
  text: string;
  encoding: string;
}

function looksLikeUtf16(bytes: Uint8Array): 'utf-16le' | 'utf-16be' | null {
  // Without a BOM, ASCII-heavy UTF-16 shows up as a zero byte in every other position.
  const sample = Math.min(bytes.length, 4096) & ~1;
  if (sample < 4) return null;
  let evenZeros = 0;
  let oddZeros = 0;
  for (let index = 0; index < sample; index += 2) {
    if (bytes[index] === 0) evenZeros++;
    if (bytes[index + 1] === 0) oddZeros++;
  }
  const pairs = sample / 2;
  if (oddZeros / pairs > 0.4 && evenZeros / pairs < 0.05) return 'utf-16le';
  if (evenZeros / pairs > 0.4 && oddZeros / pairs < 0.05) return 'utf-16be';
  return null;
}

/** Decodes bytes by BOM, then strict UTF-8, then Windows-1252 (the superset of Latin-1 Excel writes). */
export function decodeText(file: string, bytes: Uint8Array): DecodedText {
  let decoded: DecodedText;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    decoded = { text: new TextDecoder('utf-8').decode(bytes.subarray(3)), encoding: 'utf-8-bom' };
  } else if (bytes[0] === 0xff && bytes[1] === 0xfe) {
    decoded = { text: new TextDecoder('utf-16le').decode(bytes.subarray(2)), encoding: 'utf-16le' };
  } else if (bytes[0] === 0xfe && bytes[1] === 0xff) {
    decoded = { text: new TextDecoder('utf-16be').decode(bytes.subarray(2)), encoding: 'utf-16be' };
  } else {
    const utf16 = looksLikeUtf16(bytes);
    if (utf16) {
      decoded = { text: new TextDecoder(utf16).decode(bytes), encoding: utf16 };
    } else {
      try {
        decoded = { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), encoding: 'utf-8' };
      } catch {
        decoded = { text: new TextDecoder('windows-1252').decode(bytes), encoding: 'latin1' };
      }
    }
  }
  assertText(file, decoded);
  return decoded;
}

function assertText(file: string, decoded: DecodedText): void {
  const sample = decoded.text.slice(0, 65536);
  if (sample.trim() === '') {
    throw new DataError('UNREADABLE_FILE', `File "${file}" is empty: it holds no header and no records.`, {
      hint: 'Export the CMDB table again (with a header row) and upload the file that has content.',
      details: { file },
    });
  }
  let control = 0;
  for (let index = 0; index < sample.length; index++) {
    const code = sample.charCodeAt(index);
    if ((code < 32 && code !== 9 && code !== 10 && code !== 13) || code === 0xfffd || (code >= 0x7f && code <= 0x9f)) control++;
  }
  if (control > 0 && control / sample.length > 0.01) {
    throw new DataError(
      'UNREADABLE_FILE',
      `File "${file}" is not readable text: ${control} of its first ${sample.length} characters are binary control bytes (encoding guessed ${decoded.encoding}).`,
      { hint: 'Upload the export as CSV (UTF-8), JSON or .xlsx; legacy .xls and compressed files are not supported.', details: { file } },
    );
  }
}
