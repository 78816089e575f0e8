// Column names read the way a data engineer reads a foreign export: words split out of camelCase,
// snake, kebab, dots and spaces; abbreviations and a few languages brought to one vocabulary; a
// prefix shared by a group of columns (a view's table alias, a dotted path) dropped; ServiceNow's
// u_ and sys_ dropped; reference markers (_u_key, _sys_id, .value...) recognised. Each way of
// reading a header is a Reading the mapper scores; its steps are kept as evidence.

/** What a group of prefixed columns describes: the record itself, or a record it refers to. */
export type Entity = 'self' | 'application' | 'business_service' | 'location' | 'owner' | 'model' | 'database';

export interface Reading {
  words: string[];
  /** Multiplies the confidence of whatever this reading matches. */
  weight: number;
  /** Set when the words describe another record (app_name on a server row names its application). */
  entity: Entity | null;
  /** The column points at another record (parent_u_key, location.value). */
  reference: boolean;
  /** What was done to the header to get these words, for the mapping's evidence. */
  steps: string[];
}

export interface ColumnName {
  column: string;
  readings: Reading[];
}

/** Words of a header: accents dropped, camelCase, snake, kebab, dots and spaces split, lower case. */
export function splitWords(column: string): string[] {
  return column
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/ß/g, 'ss')
    .replace(/([a-z]{2,}|[0-9])([A-Z])/g, '$1 $2')
    // "IPAddress" is IP Address; "IPv4" and "CPUs" stay one word.
    .replace(/([A-Z]+)([A-Z][a-z]{2,})/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((word) => word !== '');
}

// Abbreviations and other languages' words, to the words the synonym lists use.
const WORDS: Record<string, string> = {
  env: 'environment', envt: 'environment', environ: 'environment',
  mem: 'memory', ram: 'memory', loc: 'location', dc: 'datacenter', datacentre: 'datacenter',
  mfr: 'manufacturer', mfg: 'manufacturer', manuf: 'manufacturer', crit: 'criticality',
  app: 'application', appl: 'application', apps: 'application', svc: 'service',
  biz: 'business', bus: 'business', srv: 'server', svr: 'server', serv: 'server',
  desc: 'description', descr: 'description', addr: 'address', adr: 'address',
  num: 'number', no: 'number', nr: 'number', nbr: 'number', qty: 'count', cnt: 'count',
  ver: 'version', vers: 'version', mgmt: 'management', mgt: 'management', grp: 'group',
  dept: 'department', nm: 'name', stat: 'status', sts: 'status', cat: 'category', cls: 'class',
  typ: 'type', hw: 'hardware', ser: 'serial', proc: 'process', dst: 'destination', dest: 'destination',
  src: 'source', hostnm: 'hostname', ipaddr: 'ip address', ipaddress: 'ip address', macaddr: 'mac address',
  sn: 'serial number', sno: 'serial number', serialno: 'serial number', opsys: 'os', typename: 'type', classname: 'class',
  brand: 'manufacturer', marque: 'manufacturer', famille: 'family', familia: 'family', familie: 'family',
  // German
  rechnername: 'hostname', servername: 'server name', adresse: 'address', betriebssystem: 'os',
  umgebung: 'environment', standort: 'location', hersteller: 'manufacturer', modell: 'model',
  seriennummer: 'serial number', seriennr: 'serial number', nummer: 'number', klasse: 'class', kategorie: 'category',
  verantwortlich: 'owner', verantwortlicher: 'owner', besitzer: 'owner', eigentumer: 'owner', eigentuemer: 'owner',
  kostenstelle: 'cost center', arbeitsspeicher: 'memory', hauptspeicher: 'memory', speicher: 'memory',
  festplatte: 'disk', kerne: 'cores', prozessorkerne: 'cores', anwendung: 'application', applikation: 'application',
  dienst: 'service', kritikalitat: 'criticality', kritikalitaet: 'criticality', rechenzentrum: 'datacenter',
  quelle: 'source', ziel: 'target', beziehung: 'relationship', beziehungstyp: 'relationship type', art: 'type',
  ubergeordnet: 'parent', uebergeordnet: 'parent', untergeordnet: 'child', gruppe: 'group', beschreibung: 'description',
  zustand: 'status', betriebsstatus: 'operational status', gerat: 'device', geraet: 'device', geratetyp: 'device type',
  geraetetyp: 'device type', netzwerk: 'network', auslastung: 'utilisation',
  // French
  nom: 'name', hote: 'host', environnement: 'environment', emplacement: 'location', localisation: 'location',
  lieu: 'location', fabricant: 'manufacturer', constructeur: 'manufacturer', modele: 'model', numero: 'number',
  serie: 'serial', categorie: 'category', classe: 'class', proprietaire: 'owner', responsable: 'owner', memoire: 'memory',
  disque: 'disk', coeurs: 'cores', processeurs: 'cores', criticite: 'criticality', cible: 'target', enfant: 'child',
  statut: 'status', etat: 'status', serveur: 'server', equipement: 'device', groupe: 'group',
  // Spanish, Portuguese, Italian, Dutch
  nombre: 'name', nome: 'name', naam: 'name', equipo: 'device', direccion: 'address', endereco: 'address',
  indirizzo: 'address', entorno: 'environment', ambiente: 'environment', omgeving: 'environment',
  ubicacion: 'location', localizacao: 'location', locatie: 'location', fabricante: 'manufacturer', produttore: 'manufacturer',
  fabrikant: 'manufacturer', modelo: 'model', tipo: 'type', clase: 'class', propietario: 'owner', eigenaar: 'owner',
  memoria: 'memory', disco: 'disk', nucleos: 'cores', aplicacion: 'application', aplicacao: 'application',
  criticidad: 'criticality', origen: 'source', origem: 'source', destino: 'target', padre: 'parent', hijo: 'child',
  estado: 'status', servidor: 'server', grupo: 'group', anfitrion: 'host', besturingssysteem: 'os', serienummer: 'serial number',
};

// Word sequences that name one thing; matched after the words above are applied.
const PHRASES: [string[], string][] = [
  [['operating', 'system'], 'os'],
  [['systeme', 'exploitation'], 'os'],
  [['sistema', 'operativo'], 'os'],
  [['sistema', 'operacional'], 'os'],
  [['centre', 'donnees'], 'datacenter'],
  [['data', 'center'], 'datacenter'],
  [['data', 'centre'], 'datacenter'],
  [['centre', 'cout'], 'cost center'],
  [['centro', 'costo'], 'cost center'],
];

// Articles and prepositions of the languages above; they carry no meaning in a header.
const STOPWORDS = new Set(['the', 'of', 'de', 'del', 'la', 'le', 'les', 'des', 'du', 'd', 'l', 'der', 'die', 'das', 'von', 'el', 'di', 'da', 'do', 'van', 'het', 'en']);

/** Header words in the common vocabulary: "Adresse IP" and "ipAddress" both read ip/address. */
export function normaliseWords(words: string[]): string[] {
  const expanded = words.filter((word) => !STOPWORDS.has(word)).flatMap((word) => (WORDS[word] ?? word).split(' '));
  const result: string[] = [];
  for (let index = 0; index < expanded.length; index++) {
    const phrase = PHRASES.find(([parts]) => parts.every((part, offset) => expanded[index + offset] === part));
    if (phrase) {
      result.push(...phrase[1].split(' '));
      index += phrase[0].length - 1;
    } else {
      result.push(expanded[index]);
    }
  }
  return result;
}

const ENTITY_WORDS: Record<string, Entity> = {
  server: 'self', host: 'self', ci: 'self', cmdb: 'self', device: 'self', node: 'self', vm: 'self', machine: 'self',
  computer: 'self', asset: 'self', item: 'self', object: 'self', equipment: 'self', system: 'self', hardware: 'self',
  application: 'application', business: 'business_service', service: 'business_service', location: 'location',
  site: 'location', datacenter: 'location', owner: 'owner', model: 'model', database: 'database', db: 'database',
};

// The two ends of a flow or relation: "source_ip" and "destination_ip" differ by exactly that word.
const SIDE_WORDS = new Set(['source', 'src', 'destination', 'dest', 'dst', 'target', 'from', 'to', 'parent', 'child', 'a', 'b', 'client', 'local', 'remote']);

// Reference markers at the end of a header, longest first: what is left names the record referred to.
const MARKERS: string[][] = [['u', 'key'], ['sys', 'id'], ['display', 'value'], ['key'], ['id'], ['ref'], ['value']];
// After a dot, these name a field of the record referred to, so the header names that record.
const DOTTED_FIELDS = new Set(['name', 'display_value', 'value', 'sys_id', 'id', 'key', 'label', 'friendlyname']);

interface Header {
  /** Dotted path before the last part ("server" in server.os). */
  path: string[];
  words: string[];
  /** The field after a dot that only says which column of a reference (".display_value"). */
  field: string | null;
}

function header(column: string): Header {
  // ServiceNow dot-walks with ".", iTop with "->".
  const segments = column.split(/\.|->/).map((segment) => splitWords(segment).join('_')).filter((segment) => segment !== '');
  let last = segments.length - 1;
  while (last > 0 && DOTTED_FIELDS.has(normaliseWords(segments[last].split('_')).join('_'))) last--;
  const field = last < segments.length - 1 ? segments.slice(last + 1).join('.') : null;
  return { path: segments.slice(0, last), words: segments[last]?.split('_') ?? [], field };
}

interface Prefix {
  words: string[];
  entity: Entity | null;
  /** A table alias or a dotted path: dropping it loses nothing. */
  alias: boolean;
}

/**
 * Prefixes shared by groups of columns. A first word that names a record (serv_, app_, bus_) is a
 * prefix when it or another such word starts several columns (a database view joining tables); any
 * first word is one when half the columns or more start with it (a table alias such as t1_).
 */
function sharedPrefixes(headers: Header[]): Map<string, Prefix> {
  const counts = new Map<string, number>();
  for (const { path, words } of headers) {
    if (words.length > 1 && path.length === 0) counts.set(words[0], (counts.get(words[0]) ?? 0) + 1);
  }
  const entities = new Map<string, Entity | null>();
  for (const word of counts.keys()) {
    const normal = normaliseWords([word]);
    entities.set(word, normal.length === 1 ? (ENTITY_WORDS[normal[0]] ?? null) : null);
  }
  const joinedView = [...counts].some(([word, count]) => count >= 2 && entities.get(word) !== null);
  const prefixes = new Map<string, Prefix>();
  for (const [word, count] of counts) {
    if (SIDE_WORDS.has(word)) continue;
    const entity = entities.get(word) ?? null;
    const alias = count >= 2 && count * 5 >= headers.length * 3;
    if (alias || (entity !== null && joinedView)) prefixes.set(word, { words: [word], entity, alias });
  }
  return prefixes;
}

function entityOf(words: string[]): Entity | null {
  const normal = normaliseWords(words);
  return normal.length === 1 ? (ENTITY_WORDS[normal[0]] ?? null) : null;
}

/** Every reasonable reading of each header of one table. */
export function readColumns(columns: string[]): ColumnName[] {
  const headers = columns.map(header);
  const prefixes = sharedPrefixes(headers);
  return columns.map((column, index) => {
    const { path, words, field } = headers[index];
    const readings: Reading[] = [];
    const add = (reading: Reading) => {
      const key = `${reading.entity}:${reading.words.join('_')}`;
      if (reading.words.length > 0 && !readings.some((other) => `${other.entity}:${other.words.join('_')}` === key)) readings.push(reading);
    };
    const read = (rest: string[], weight: number, entity: Entity | null, steps: string[]) => {
      add({ words: normaliseWords(rest), weight, entity, reference: field !== null, steps });
      if (field === null) addWithoutMarker(rest, weight, entity, steps, add);
    };
    const prefix = path.length === 0 && words.length > 1 ? prefixes.get(words[0]) : undefined;
    const secondary = prefix !== undefined && prefix.entity !== null && prefix.entity !== 'self';
    const steps: string[] = [];
    if (field !== null) steps.push(`"${field.replace(/\./g, ' ')}" after the dot read as a reference to the record's ${words.join(' ')}`);
    let entity: Entity | null = null;
    if (path.length > 0) {
      const pathEntity = entityOf(path.flatMap((segment) => segment.split('_')));
      entity = pathEntity === 'self' ? null : pathEntity;
      steps.push(`path "${path.join('.')}." dropped`);
    }
    // A header under another record's prefix says less about this record when read whole.
    read(words, secondary ? 0.6 : 1, entity, steps);
    if (prefix) {
      const rest = words.slice(prefix.words.length);
      const dropped = [...steps, `prefix "${prefix.words.join('_')}_" shared by several columns dropped`];
      const prefixEntity = secondary ? prefix.entity : null;
      const weight = prefix.alias || !secondary ? 1 : 0.95;
      read(rest, weight, prefixEntity, dropped);
      if (rest.length > 1 && rest[0] === 'u') read(rest.slice(1), weight * 0.9, prefixEntity, [...dropped, 'ServiceNow custom prefix "u_" dropped']);
      if (rest.length > 1 && rest[0] === 'sys') read(rest.slice(1), weight * 0.9, prefixEntity, [...dropped, 'ServiceNow system prefix "sys_" dropped']);
    }
    if (words.length > 1 && words[0] === 'u') read(words.slice(1), 0.9, entity, [...steps, 'ServiceNow custom prefix "u_" dropped']);
    if (words.length > 1 && words[0] === 'sys') read(words.slice(1), 0.9, entity, [...steps, 'ServiceNow system prefix "sys_" dropped']);
    return { column, readings };
  });
}

/** Adds the reading without a trailing reference marker: parent_u_key refers to the parent. */
function addWithoutMarker(words: string[], weight: number, entity: Entity | null, steps: string[], add: (reading: Reading) => void): void {
  const marker = MARKERS.find((candidate) => words.length > candidate.length && candidate.every((word, offset) => words[words.length - candidate.length + offset] === word));
  if (!marker) return;
  const rest = words.slice(0, words.length - marker.length);
  add({ words: normaliseWords(rest), weight: weight * 0.95, entity, reference: true, steps: [...steps, `"_${marker.join('_')}" read as a reference to the ${rest.join(' ')}`] });
}
