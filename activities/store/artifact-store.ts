/**
 * The artifact store: one interface over a local folder and an S3-compatible bucket. Every write
 * records the object's sha256 (S3: in its metadata), every read checks it (against the caller's
 * expected hash, else the recorded one), and downloads land in a temporary file renamed into place,
 * so a reader never sees a partial file.
 */
import type { StoreLocation } from '../../config/store-location';

export interface StoredObject {
  key: string;
  bytes: number;
  /** Recorded on write; null for an object written by something else (or a listing, which does not carry it). */
  sha256: string | null;
  /** The server's version tag (S3 ETag), where it has one: a changed object has a new one. */
  etag?: string;
}

/** Bytes done of a total, for heartbeats and `status`. */
export type Progress = (doneBytes: number, totalBytes: number) => void;

export interface PutOptions {
  /** Create only: when the key exists, write nothing and report `written: false` (the completion seal). */
  ifAbsent?: boolean;
  /** The file's sha256 when the caller already has it (saves a hashing pass). */
  sha256?: string;
  progress?: Progress;
}

export interface GetOptions {
  /** What the bytes must hash to (else the hash recorded on write). */
  sha256?: string;
  /** Take the bytes as they are (`verify` judges them itself against the campaign's records). */
  unchecked?: boolean;
  /**
   * Where the partial file is staged (on the destination's filesystem); default: beside the
   * destination. A model folder that another step may be reading must never show a partial file.
   */
  tmpDir?: string;
  progress?: Progress;
}

export type PutOutcome = StoredObject & { sha256: string; written: boolean };

export interface ArtifactStore {
  readonly location: StoreLocation;
  /** How the store is named in messages. */
  readonly description: string;
  putFile(key: string, file: string, opts?: PutOptions): Promise<PutOutcome>;
  putBytes(key: string, body: Buffer | string, opts?: Omit<PutOptions, 'progress'>): Promise<PutOutcome>;
  /** Downloads to `dest` (atomically), checking the hash; the object's size and hash. */
  getFile(key: string, dest: string, opts?: GetOptions): Promise<StoredObject & { sha256: string }>;
  getBytes(key: string, opts?: Omit<GetOptions, 'progress'>): Promise<Buffer>;
  head(key: string): Promise<StoredObject | null>;
  /** Every object whose key starts with `prefix`, in key order. */
  list(prefix: string): AsyncIterable<StoredObject>;
  /** One level under `prefix` (ending in "/"): its objects, and its sub-folders (as prefixes ending in "/"). */
  listFolder(prefix: string): Promise<{ objects: StoredObject[]; folders: string[] }>;
  delete(key: string): Promise<void>;
  /** Does the server honour create-only writes (If-None-Match: *)? Detected once, then remembered. */
  conditionalWrites(): Promise<boolean>;
}

/** A key's content did not hash to what was expected or recorded. */
export class StoreIntegrityError extends Error {
  constructor(
    readonly key: string,
    readonly expected: string,
    readonly actual: string,
    where: string,
  ) {
    super(
      `${where}: ${key} hashes to sha256 ${actual.slice(0, 12)}, not the recorded ${expected.slice(0, 12)} (changed or damaged in the store; restore it, or start a new campaign)`,
    );
    this.name = 'StoreIntegrityError';
  }
}
