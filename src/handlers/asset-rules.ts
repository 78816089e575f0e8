// How one asset is classified and described: ordered rules over its class, OS, model and name,
// environment and OS-family words, and tag lists. Pure, memoised per distinct text. Class texts are
// read as words whatever their spelling: cmdb_ci_db_hana_instance, "IP Firewall" and
// ApplicationComponent meet the same rules.
import { splitWords } from './names.ts';
import type { AssetType, Environment, OsFamily, SourceSystem } from './types.ts';
import { memoise } from './values.ts';

interface Rule {
  rule: string;
  pattern: RegExp;
  type: AssetType;
  subtype: string | null;
}

// Ordered: the first match wins, so narrower phrases ("cluster node", "storage switch",
// "computer room") come before the words they contain.
const CLASS_RULES: Rule[] = [
  { rule: 'cluster_node', pattern: /cluster node|\bnode\b.*cluster/, type: 'server', subtype: null },
  { rule: 'generic_ci', pattern: /^(configuration item|ci|item|cmdb ci|unknown|other)$/, type: 'unknown', subtype: null },
  { rule: 'virtual_server', pattern: /virtual machine|\bvm\b|vm instance|vmware (instance|guest)|\bec2\b|cloud instance|virtual server/, type: 'server', subtype: 'virtual' },
  { rule: 'role_server', pattern: /(database|application|app|file|web|mail|email|print|backup|db) server/, type: 'server', subtype: null },
  { rule: 'database', pattern: /database|\bdb\b|db instance|catalog|sql instance|\bschema\b|\b(mysql|oracle|postgres(ql)?|mssql|sql server|mongodb|db2|sybase|hana|mariadb|redis|cassandra)\b/, type: 'database', subtype: null },
  { rule: 'cluster', pattern: /cluster/, type: 'cluster', subtype: null },
  { rule: 'router', pattern: /router|gateway/, type: 'network_device', subtype: 'router' },
  { rule: 'firewall', pattern: /firewall|\bfw\b/, type: 'network_device', subtype: 'firewall' },
  { rule: 'load_balancer', pattern: /load ?balanc|\blb\b|\bf5\b|big-?ip|netscaler|\badc\b/, type: 'network_device', subtype: 'load_balancer' },
  { rule: 'switch', pattern: /switch/, type: 'network_device', subtype: 'switch' },
  { rule: 'wireless', pattern: /access point|wireless|\bwlan\b/, type: 'network_device', subtype: 'wireless' },
  { rule: 'network_adapter', pattern: /network adapter|\bnic\b|network interface/, type: 'network_device', subtype: 'adapter' },
  { rule: 'network', pattern: /network|net ?gear|\bvpn\b|modem/, type: 'network_device', subtype: null },
  { rule: 'rack', pattern: /\brack\b/, type: 'facility', subtype: 'rack' },
  { rule: 'ups', pattern: /\bups\b|uninterruptible/, type: 'facility', subtype: 'ups' },
  { rule: 'pdu', pattern: /\bpdu\b|power distribution/, type: 'facility', subtype: 'pdu' },
  { rule: 'patch_panel', pattern: /patch panel/, type: 'facility', subtype: 'patch_panel' },
  { rule: 'data_center', pattern: /data ?cent(er|re)|computer room|\bzone\b|\broom\b|facility|\bcage\b|\bfloor\b|\bsite\b/, type: 'facility', subtype: 'data_center' },
  { rule: 'power', pattern: /power|generator|\bcrac\b|hvac|cooling/, type: 'facility', subtype: null },
  { rule: 'storage', pattern: /storage|\bsan\b|\bnas\b|disk array|\bdisk\b|\blun\b|volume|tape|datastore/, type: 'storage', subtype: null },
  { rule: 'printer', pattern: /printer|\bmfp\b|plotter/, type: 'end_user_device', subtype: 'printer' },
  { rule: 'peripheral', pattern: /peripheral|keyboard|scanner|monitor|display/, type: 'end_user_device', subtype: 'peripheral' },
  { rule: 'mobile', pattern: /phone|mobile|handheld|tablet|ipad/, type: 'end_user_device', subtype: 'mobile' },
  { rule: 'laptop', pattern: /laptop|notebook/, type: 'end_user_device', subtype: 'laptop' },
  { rule: 'workstation', pattern: /computer|workstation|desktop|\bpc\b|thin client/, type: 'end_user_device', subtype: 'workstation' },
  { rule: 'server', pattern: /server|\bhost\b|hypervisor|\besxi?\b|mainframe|as400|\bnode\b|compute/, type: 'server', subtype: null },
  { rule: 'service', pattern: /service|offering/, type: 'service', subtype: null },
  { rule: 'application', pattern: /application|\bapp\b|appl|web ?site|web ?app|middleware|message (broker|queue)|\bmq\b|\bapi\b|jvm|tomcat|iis|apache|websphere|weblogic|jboss/, type: 'application', subtype: null },
  { rule: 'software', pattern: /software|package|licen[cs]e|product|patch|hotfix|program/, type: 'software', subtype: null },
];

// In ServiceNow these classes extend cmdb_ci_appl: they are software instances, not machines.
const SERVICENOW_APPLICATION = /web server|application server|app server|java ?server|tomcat|jboss|websphere|weblogic|\biis\b/;

const OS_RULES: { pattern: RegExp; type: AssetType; subtype: string | null; family: OsFamily }[] = [
  { pattern: /windows (10|11|7|8|xp|vista)\b|mac ?os|\bos x\b|\bios\b(?!.*(cisco|xe|xr))|android|chrome ?os/, type: 'end_user_device', subtype: 'workstation', family: 'other' },
  { pattern: /cisco|ios[ -]?x[er]|nx-?os|junos|pan-?os|fortios|\beos\b|\basa\b/, type: 'network_device', subtype: null, family: 'other' },
  { pattern: /esxi?\b|vmware esx|hyper-v server/, type: 'server', subtype: 'physical', family: 'other' },
  { pattern: /windows/, type: 'server', subtype: null, family: 'windows' },
  { pattern: /linux|ubuntu|red ?hat|rhel|centos|debian|suse|sles|oracle linux|amazon linux|alma|rocky|fedora|photon/, type: 'server', subtype: null, family: 'linux' },
  { pattern: /\baix\b|solaris|sunos|hp-?ux|unix|freebsd|openbsd|z\/os|os\/400|i5\/os/, type: 'server', subtype: null, family: 'unix' },
];

const MODEL_RULES: Rule[] = [
  { rule: 'model_laptop', pattern: /macbook|thinkpad|latitude|elitebook|probook|\bxps\b|surface/, type: 'end_user_device', subtype: 'laptop' },
  { rule: 'model_workstation', pattern: /thinkstation|optiplex|precision|elitedesk|thinkcentre|imac|prodesk/, type: 'end_user_device', subtype: 'workstation' },
  { rule: 'model_server', pattern: /poweredge|proliant|thinksystem|\bucs\b|blade|system x|primergy|flex system/, type: 'server', subtype: 'physical' },
  { rule: 'model_network', pattern: /catalyst|nexus|\bex\d|\bqfx|\bmx\d|\bisr\b|\basr\b|arista|\bsrx/, type: 'network_device', subtype: null },
  { rule: 'model_storage', pattern: /netapp|powerstore|\bvnx\b|3par|pure storage|powermax|unity/, type: 'storage', subtype: null },
  { rule: 'model_pdu', pattern: /\bap7\d{3}|\bpdu\b/, type: 'facility', subtype: 'pdu' },
  { rule: 'model_patch_panel', pattern: /patch panel|fiber panel/, type: 'facility', subtype: 'patch_panel' },
];

const NAME_RULES: { pattern: RegExp; type: AssetType; subtype: string | null }[] = [
  { pattern: /^(rtr|router|gw)\d*$/, type: 'network_device', subtype: 'router' },
  { pattern: /^(sw|switch|distswitch|coreswitch)\d*$/, type: 'network_device', subtype: 'switch' },
  { pattern: /^(fw|firewall)\d*$/, type: 'network_device', subtype: 'firewall' },
  { pattern: /^lb\d*$/, type: 'network_device', subtype: 'load_balancer' },
  { pattern: /^pdu\d*$/, type: 'facility', subtype: 'pdu' },
  { pattern: /^ups\d*$/, type: 'facility', subtype: 'ups' },
  { pattern: /^(srv|svr|server|vm|esx|esxi|web|app|db|sql)\d*$/, type: 'server', subtype: null },
];

const SYSTEM_DEFAULTS: Partial<Record<SourceSystem, { type: AssetType; subtype: string | null; confidence: number }>> = {
  aws_migration_factory: { type: 'server', subtype: null, confidence: 0.8 },
  azure_migrate: { type: 'server', subtype: null, confidence: 0.75 },
  rvtools: { type: 'server', subtype: 'virtual', confidence: 0.85 },
};

const ENVIRONMENTS: [RegExp, Environment][] = [
  [/^(prod|prd|production|live|prod\w*|p)$/, 'production'],
  [/^(dr|disaster[ _-]?recovery|bcp|failover|recovery|drp)$/, 'dr'],
  [/^(stag|stage|staging|stg|uat|preprod|pre[ _-]?prod(uction)?|acceptance|acc|pprd)$/, 'staging'],
  [/^(test|tst|testing|qa|qas|sit|int|integration|quality|test\w*)$/, 'test'],
  [/^(dev|devel|development|sandbox|sbx|lab|poc|dev\w*)$/, 'development'],
];
export const NAME_ENVIRONMENT_TYPES = new Set<AssetType>(['server', 'database', 'cluster', 'application', 'service']);

export function normaliseEnvironment(text: string | null): Environment {
  return text === null ? 'unknown' : cachedEnvironment(text);
}

const cachedEnvironment = memoise((text: string): Environment => {
  const value = text.trim().toLowerCase();
  for (const [pattern, environment] of ENVIRONMENTS) if (pattern.test(value)) return environment;
  const words = value.split(/[^a-z0-9]+/).filter(Boolean);
  for (const [pattern, environment] of ENVIRONMENTS) {
    if (words.some((word) => word.length > 1 && pattern.test(word))) return environment;
  }
  return 'unknown';
});

export function environmentFromName(names: (string | null)[]): Environment {
  for (const name of names) {
    if (name === null) continue;
    for (const token of name.toLowerCase().split(/[^a-z0-9]+/)) {
      if (/^(prod|prd|dev|tst|uat|stg|dr|qa|test|staging)$/.test(token)) return normaliseEnvironment(token);
    }
  }
  return 'unknown';
}

/** The family one OS text names, or null when it names none (then the next text is asked). */
export const familyOfText = memoise((text: string): OsFamily | null => {
  const value = text.toLowerCase();
  if (/^(windows|win|microsoft)$/.test(value)) return 'windows';
  if (/^(linux|lin)$/.test(value)) return 'linux';
  if (/^unix$/.test(value)) return 'unix';
  for (const rule of OS_RULES) if (rule.pattern.test(value)) return rule.family;
  return null;
});

export function osFamilyOf(...texts: (string | null)[]): OsFamily | null {
  let any = false;
  for (const text of texts) {
    if (text === null) continue;
    any = true;
    const family = familyOfText(text);
    if (family !== null) return family;
  }
  return any ? 'other' : null;
}

/** parseTags for the same text over and over; callers copy the result and never change it. */
export const cachedTags = memoise((text: string): Readonly<Record<string, string>> => parseTags(text));

/** Parses `k=v;k=v`, `k:v, k:v` or a JSON object; bare words become tags with an empty value. */
export function parseTags(text: string | null): Record<string, string> {
  const tags: Record<string, string> = {};
  if (text === null) return tags;
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
        for (const [key, value] of Object.entries(parsed)) tags[key] = String(value);
        return tags;
      }
    } catch {
      // Not JSON after all: fall through to the list syntax.
    }
  }
  for (const part of trimmed.split(/[;,\n]/)) {
    const item = part.trim();
    if (item === '') continue;
    const separator = item.search(/[=:]/);
    if (separator > 0) tags[item.slice(0, separator).trim()] = item.slice(separator + 1).trim();
    else tags[item] = '';
  }
  return tags;
}

export interface Classification {
  type: AssetType;
  subtype: string | null;
  confidence: number;
  evidence: string[];
}

export interface ClassifyInput {
  assetClass: string | null;
  system: SourceSystem;
  netboxModel: string | null;
  osText: string | null;
  model: string | null;
  names: (string | null)[];
  virtualHost: string | null;
  hasResources: boolean;
  /** Other class-like columns of the row (category, subcategory, device type...) with their values. */
  otherClasses?: { column: string; value: string }[];
}

function matchRules(rules: Rule[], text: string): Rule | undefined {
  return rules.find((rule) => rule.pattern.test(text));
}

/** What an asset class says, worked out once per distinct class text. */
interface ClassVerdict {
  /** Set when the class is one of ServiceNow's application classes (only trusted for ServiceNow tables). */
  serviceNowSubtype: 'web_server' | 'app_server' | null;
  serviceNowEvidence: string;
  rule: Rule | undefined;
  ruleEvidence: string;
}

export const classVerdict = memoise((assetClass: string): ClassVerdict => {
  const text = classText(assetClass);
  const rule = matchRules(CLASS_RULES, text) ?? camelRule(assetClass);
  return {
    serviceNowSubtype: SERVICENOW_APPLICATION.test(text) ? (/web/.test(text) ? 'web_server' : 'app_server') : null,
    serviceNowEvidence: `servicenow_application_class: asset_class="${assetClass}"`,
    rule,
    ruleEvidence: rule ? `class_${rule.rule}: asset_class="${assetClass}"` : '',
  };
});
const osRuleOf = memoise((osText: string) => {
  const os = osText.toLowerCase();
  return OS_RULES.find((rule) => rule.pattern.test(os)) ?? null;
});
const modelRuleOf = memoise((model: string) => matchRules(MODEL_RULES, model.toLowerCase()) ?? null);

export function classify(input: ClassifyInput): Classification {
  let result: Classification | null = null;
  if (input.netboxModel === 'virtualization.virtualmachine') {
    result = { type: 'server', subtype: 'virtual', confidence: 0.95, evidence: [`netbox_model: "${input.netboxModel}" is a virtual machine`] };
  } else if (input.netboxModel === 'virtualization.cluster') {
    result = { type: 'cluster', subtype: input.assetClass === null ? null : input.assetClass.toLowerCase(), confidence: 0.95, evidence: [`netbox_model: "${input.netboxModel}"`] };
  }
  if (!result && input.assetClass !== null) {
    const verdict = classVerdict(input.assetClass);
    if (input.system === 'servicenow' && verdict.serviceNowSubtype !== null) {
      result = { type: 'application', subtype: verdict.serviceNowSubtype, confidence: 0.9, evidence: [verdict.serviceNowEvidence] };
    } else {
      const rule = verdict.rule;
      if (rule) result = { type: rule.type, subtype: rule.subtype, confidence: rule.type === 'unknown' ? 0.3 : 0.9, evidence: [verdict.ruleEvidence] };
    }
  }
  for (const other of !result || result.type === 'unknown' ? (input.otherClasses ?? []) : []) {
    const rule = classVerdict(other.value).rule;
    if (!rule || rule.type === 'unknown') continue;
    result = { type: rule.type, subtype: rule.subtype, confidence: 0.8, evidence: [...(result?.evidence ?? []), `class_${rule.rule}: ${other.column}="${other.value}"`] };
    break;
  }
  if (!result || result.type === 'unknown') {
    const osRule = input.osText === null ? null : osRuleOf(input.osText);
    const modelRule = input.model === null ? null : modelRuleOf(input.model);
    if (osRule) result = { type: osRule.type, subtype: osRule.subtype, confidence: 0.75, evidence: [...(result?.evidence ?? []), `os: os="${input.osText}"`] };
    else if (modelRule) result = { type: modelRule.type, subtype: modelRule.subtype, confidence: 0.65, evidence: [...(result?.evidence ?? []), `${modelRule.rule}: model="${input.model}"`] };
  }
  if (!result || result.type === 'unknown') {
    const fallback = SYSTEM_DEFAULTS[input.system];
    if (fallback) result = { ...fallback, evidence: [...(result?.evidence ?? []), `source_default: ${input.system} inventories list servers`] };
  }
  if (!result || result.type === 'unknown') {
    for (const name of input.names) {
      if (name === null || result?.type === 'server') continue;
      const token = name.toLowerCase().split(/[^a-z0-9]+/).find((part) => NAME_RULES.some((rule) => rule.pattern.test(part)));
      const rule = token === undefined ? undefined : NAME_RULES.find((entry) => entry.pattern.test(token));
      if (rule) {
        result = { type: rule.type, subtype: rule.subtype, confidence: 0.5, evidence: [...(result?.evidence ?? []), `name_token: name="${name}"`] };
        break;
      }
    }
  }
  if ((!result || result.type === 'unknown') && (input.hasResources || input.virtualHost !== null)) {
    result = { type: 'server', subtype: input.virtualHost !== null ? 'virtual' : null, confidence: 0.55, evidence: [...(result?.evidence ?? []), 'resources: has CPU, memory or a virtualization host'] };
  }
  if (!result) return { type: 'unknown', subtype: null, confidence: 0, evidence: ['no rule matched: no class, OS, model or name hint'] };
  if (result.type === 'server' && result.subtype === null) {
    if (input.virtualHost !== null) {
      result.subtype = 'virtual';
      result.evidence.push(`virtualization_host="${input.virtualHost}"`);
    } else if (input.netboxModel === 'dcim.device') {
      result.subtype = 'physical';
      result.evidence.push('netbox_model: dcim.device is physical');
    }
  }
  // `result` and its evidence array were built by this call, so they are returned as they are.
  return result;
}

// Class words of other languages and ServiceNow's abbreviations, to the words the rules use.
const CLASS_WORDS: Record<string, string> = {
  ora: 'oracle', win: 'windows', lnx: 'linux', msd: 'mass storage device', datenbank: 'database', bd: 'database',
  parefeu: 'firewall', cortafuegos: 'firewall', commutateur: 'switch', routeur: 'router', enrutador: 'router',
  stockage: 'storage', almacenamiento: 'storage', speichersystem: 'storage', drucker: 'printer', imprimante: 'printer',
  impresora: 'printer', anwendung: 'application', applikation: 'application', aplicacion: 'application',
  applicazione: 'application', serveur: 'server', servidor: 'server', netzwerk: 'network', reseau: 'network', red: 'network',
  ordinateur: 'computer', portable: 'laptop', poste: 'workstation', lastverteiler: 'load balancer', datenbankinstanz: 'database instance', spkg: 'software package',
};
const CLASS_PHRASES: [RegExp, string][] = [
  [/\bbase (de )?(donnees|datos|dados)\b/g, 'database'],
  [/\bpare feu\b/g, 'firewall'],
  [/\b(machine virtuelle|maquina virtual|virtuelle maschine)\b/g, 'virtual machine'],
  [/\b(serveur virtuel|servidor virtual|virtueller server)\b/g, 'virtual server'],
];

/**
 * A class as words for the rules: lower case, separators as spaces, abbreviations and foreign words
 * translated, ServiceNow's "cmdb_ci_" table prefix dropped. CamelCase is left joined here: product
 * names (PostgreSQL, NetApp, WebSphere) must not fall apart.
 */
export function classText(assetClass: string): string {
  let text = assetClass.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[_\-./\\:]+/g, ' ').replace(/\s+/g, ' ').trim();
  for (const [pattern, replacement] of CLASS_PHRASES) text = text.replace(pattern, replacement);
  const words = text.split(' ').map((word) => CLASS_WORDS[word] ?? word);
  let start = 0;
  if (words[start] === 'cmdb') start++;
  if (words[start] === 'ci' && words.length > start + 1) start++;
  return words.slice(start).join(' ');
}

/** Rules over a PascalCase type name split into its words (ArchiMate's ApplicationComponent, SystemSoftware). */
function camelRule(assetClass: string): Rule | undefined {
  if (!/^[A-Z][a-z]{2,}([A-Z][a-z]{3,})+$/.test(assetClass)) return undefined;
  return matchRules(CLASS_RULES, splitWords(assetClass).join(' '));
}

const ENVIRONMENT_WORDS = new Set(['prod', 'prd', 'production', 'live', 'dr', 'disaster recovery', 'bcp', 'failover', 'stage', 'staging', 'stg', 'uat', 'preprod', 'pre prod', 'preproduction', 'pre production', 'acceptance', 'acc', 'test', 'tst', 'testing', 'qa', 'qas', 'sit', 'integration', 'dev', 'devel', 'development', 'sandbox', 'sbx', 'lab', 'poc', 'non production', 'nonprod', 'non prod']);

/** Whether a whole value is an environment word ("Production", "UAT", "pre-prod"), not just contains one. */
export function isEnvironmentWord(text: string): boolean {
  return ENVIRONMENT_WORDS.has(text.trim().toLowerCase().replace(/[_\-\s]+/g, ' '));
}
