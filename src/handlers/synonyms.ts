// Column vocabularies of the exports we know. Names are compared after normaliseColumn(),
// so "Source server name", "*Server name" and "server_name" all meet the same entry; and again
// as words in the common vocabulary (names.ts), so "Adresse IP" meets ip_address.
import { normaliseWords } from './names.ts';
import type { CanonicalField, SourceSystem, TableRole } from './types.ts';

/** snake_case for comparison; a single lower-case prefix stays joined ("vCPU" is vcpu, not v_cpu). */
export function normaliseColumn(column: string): string {
  return column
    .replace(/([a-z]{2,}|[0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

export interface Synonym {
  target: CanonicalField;
  names: string[];
  confidence: number;
  /** Only trusted at full confidence for these systems; elsewhere it counts 0.1 less. */
  systems?: SourceSystem[];
}

export const RELATION_FIELDS: readonly CanonicalField[] = ['rel_parent', 'rel_child', 'rel_type'];
export const FLOW_FIELDS: readonly CanonicalField[] = ['src_host', 'src_ip', 'dst_host', 'dst_ip', 'dst_port', 'process'];
export const IDENTITY_FIELDS: readonly CanonicalField[] = ['source_key', 'name', 'hostname', 'fqdn', 'ip_addresses'];

/** Which canonical fields a table of each role may use. */
export function fieldAllowed(target: CanonicalField, role: TableRole): boolean {
  if (role === 'relations') return RELATION_FIELDS.includes(target);
  if (role === 'flows') return FLOW_FIELDS.includes(target);
  return !RELATION_FIELDS.includes(target) && !FLOW_FIELDS.includes(target);
}

export const SYNONYMS: Synonym[] = [
  // ServiceNow cmdb_ci and cmdb_rel_ci (both field names and list-view labels).
  { target: 'source_key', names: ['sys_id'], confidence: 1 },
  { target: 'asset_class', names: ['sys_class_name', 'class'], confidence: 0.95, systems: ['servicenow'] },
  { target: 'lifecycle_status', names: ['install_status'], confidence: 0.9, systems: ['servicenow'] },
  { target: 'support_group', names: ['assignment_group', 'support_group'], confidence: 0.9 },
  { target: 'owner', names: ['owned_by'], confidence: 0.9 },
  { target: 'owner', names: ['assigned_to'], confidence: 0.8 },
  { target: 'environment', names: ['used_for'], confidence: 0.85, systems: ['servicenow'] },
  { target: 'memory_mb', names: ['ram'], confidence: 0.9 },
  { target: 'disk_gb', names: ['disk_space'], confidence: 0.9 },
  { target: 'cpu_cores', names: ['cpu_count', 'cpu_core_count'], confidence: 0.9 },
  { target: 'model', names: ['model_id'], confidence: 0.85, systems: ['servicenow'] },
  { target: 'os_name', names: ['os'], confidence: 0.9 },
  { target: 'rel_parent', names: ['parent', 'parent_ci', 'parent_name'], confidence: 0.95 },
  { target: 'rel_child', names: ['child', 'child_ci', 'child_name'], confidence: 0.95 },
  { target: 'rel_type', names: ['type', 'relationship_type', 'relation_type', 'rel_type', 'relation', 'relationship', 'link_type', 'connection_type', 'dependency_type', 'edge_type'], confidence: 0.9 },
  // Azure Migrate import template and dependency-analysis export.
  { target: 'src_host', names: ['source_server_name', 'source_server', 'source_host', 'src_host', 'source_hostname', 'client_host', 'source_machine', 'source_name'], confidence: 0.95 },
  { target: 'src_ip', names: ['source_ip', 'src_ip', 'source_ip_address', 'source_address', 'client_ip', 'src_addr'], confidence: 0.95 },
  { target: 'dst_host', names: ['destination_server_name', 'destination_server', 'destination_host', 'dst_host', 'dest_host', 'destination_hostname', 'target_host', 'server_host', 'destination_name'], confidence: 0.95 },
  { target: 'dst_ip', names: ['destination_ip', 'dst_ip', 'dest_ip', 'destination_ip_address', 'destination_address', 'target_ip', 'server_ip', 'dst_addr'], confidence: 0.95 },
  { target: 'dst_port', names: ['destination_port', 'dst_port', 'dest_port', 'port', 'target_port', 'server_port', 'service_port'], confidence: 0.9 },
  { target: 'process', names: ['source_process', 'process', 'process_name', 'src_process', 'client_process'], confidence: 0.85 },
  { target: 'memory_mb', names: ['memory_in_mb'], confidence: 0.95 },
  { target: 'cpu_cores', names: ['cores'], confidence: 0.9 },
  { target: 'ip_addresses', names: ['ip_addresses'], confidence: 1 },
  // AWS Cloud Migration Factory intake form.
  { target: 'name', names: ['server_name'], confidence: 0.95 },
  { target: 'fqdn', names: ['server_fqdn'], confidence: 0.95 },
  { target: 'os_family', names: ['server_os_family'], confidence: 0.95 },
  { target: 'os_version', names: ['server_os_version'], confidence: 0.9 },
  { target: 'environment', names: ['server_environment'], confidence: 0.95 },
  { target: 'application', names: ['app_name'], confidence: 0.9 },
  { target: 'location', names: ['aws_region'], confidence: 0.75, systems: ['aws_migration_factory'] },
  // RVTools vInfo / vHost.
  { target: 'name', names: ['vm', 'vm_name', 'virtual_machine'], confidence: 0.95 },
  { target: 'cpu_cores', names: ['cpus', 'num_cpu', 'vcpus', 'vcpu', '_cpu', 'num_cpus'], confidence: 0.9 },
  { target: 'disk_gb', names: ['provisioned_mb', 'provisioned_mib', 'provisioned_gb'], confidence: 0.85 },
  { target: 'virtualization_host', names: ['host'], confidence: 0.9, systems: ['rvtools'] },
  { target: 'location', names: ['datacenter'], confidence: 0.85 },
  { target: 'operational_status', names: ['powerstate', 'power_state'], confidence: 0.85 },
  { target: 'os_name', names: ['os_according_to_the_configuration_file'], confidence: 0.9 },
  { target: 'os_name', names: ['os_according_to_the_vm_ware_tools', 'os_according_to_the_vmware_tools'], confidence: 0.85 },
  { target: 'fqdn', names: ['dns_name'], confidence: 0.85 },
  { target: 'ip_addresses', names: ['primary_ip_address'], confidence: 0.9 },
  { target: 'source_key', names: ['vm_uuid', 'vm_id'], confidence: 0.85, systems: ['rvtools'] },
  // NetBox objects.
  { target: 'source_key', names: ['id'], confidence: 0.95, systems: ['netbox'] },
  { target: 'model', names: ['device_type'], confidence: 0.9, systems: ['netbox'] },
  { target: 'asset_class', names: ['role', 'device_role'], confidence: 0.9, systems: ['netbox'] },
  { target: 'os_name', names: ['platform'], confidence: 0.85, systems: ['netbox'] },
  { target: 'location', names: ['site'], confidence: 0.9 },
  { target: 'owner', names: ['tenant'], confidence: 0.75, systems: ['netbox'] },
  { target: 'serial_number', names: ['serial'], confidence: 0.95 },
  { target: 'virtualization_host', names: ['device'], confidence: 0.8, systems: ['netbox'] },
  { target: 'cpu_cores', names: ['vcpus'], confidence: 0.95, systems: ['netbox'] },
  { target: 'memory_mb', names: ['memory'], confidence: 0.9 },
  { target: 'disk_gb', names: ['disk'], confidence: 0.85 },
  { target: 'ip_addresses', names: ['primary_ip4', 'primary_ip6', 'primary_ip'], confidence: 0.9 },
  { target: 'rel_parent', names: ['a_device', 'a_side', 'from', 'source', 'from_ci', 'source_ci', 'upstream', 'source_element', 'from_name'], confidence: 0.85 },
  { target: 'rel_child', names: ['b_device', 'b_side', 'to', 'target', 'to_ci', 'target_ci', 'downstream', 'destination', 'target_element', 'to_name'], confidence: 0.85 },
  // Hand-made sheets and everything else.
  { target: 'source_key', names: ['id', 'uuid', 'guid', 'ci_id', 'asset_id', 'object_id', 'record_id', 'cmdb_id', 'unique_id', 'ci_key', 'key'], confidence: 0.85 },
  { target: 'name', names: ['name', 'display_name', 'ci_name', 'device_name', 'asset_name', 'machine_name', 'server', 'servername', 'node_name', 'ci', 'object_name', 'element_name', 'item_name'], confidence: 0.9 },
  { target: 'hostname', names: ['hostname', 'host_name', 'dns_hostname', 'short_name', 'netbios_name', 'computer_name', 'computername'], confidence: 0.95 },
  { target: 'fqdn', names: ['fqdn', 'fully_qualified_domain_name', 'dns_fqdn', 'full_dns_name'], confidence: 1 },
  { target: 'ip_addresses', names: ['ip', 'ip_address', 'ipaddress', 'ips', 'ipv4', 'ipv4_address', 'ipv6', 'ipv6_address', 'private_ip', 'private_ip_address', 'management_ip', 'mgmt_ip', 'ip_addr', 'addresses'], confidence: 0.95 },
  { target: 'mac_address', names: ['mac', 'mac_address', 'macaddress', 'mac_addr', 'mac_addresses'], confidence: 0.95 },
  { target: 'serial_number', names: ['serial_number', 'serialnumber', 'serial_no', 'service_tag'], confidence: 0.95 },
  { target: 'asset_class', names: ['class', 'ci_class', 'type', 'asset_type', 'ci_type', 'device_type', 'server_type', 'machine_type', 'category', 'role', 'object_type', 'item_type', 'element_type', 'node_type', 'system_type', 'equipment_type', 'ci_category', 'asset_category'], confidence: 0.8 },
  { target: 'cpu_cores', names: ['cpu', 'cpu_cores', 'number_of_cores', 'num_cores', 'core_count', 'processors', 'logical_processors', 'vcpu_count'], confidence: 0.9 },
  { target: 'memory_mb', names: ['memory_mb', 'ram_mb', 'memory_gb', 'ram_gb', 'mem', 'total_memory', 'physical_memory', 'memory_size', 'ram_size'], confidence: 0.9 },
  { target: 'disk_gb', names: ['disk_gb', 'disk_size', 'storage', 'storage_gb', 'total_disk', 'disk_capacity', 'total_storage', 'disk_size_gb', 'disk_mb', 'disks_gb'], confidence: 0.9 },
  { target: 'os_name', names: ['os_name', 'operating_system', 'os_description', 'guest_os', 'platform'], confidence: 0.9 },
  { target: 'os_version', names: ['os_version', 'os_release', 'operating_system_version'], confidence: 0.95 },
  { target: 'os_family', names: ['os_family', 'os_type', 'platform_type'], confidence: 0.9 },
  { target: 'environment', names: ['environment', 'env', 'stage', 'lifecycle_environment', 'environment_name'], confidence: 0.95 },
  { target: 'application', names: ['application', 'app', 'application_name', 'business_application', 'workload', 'app_id'], confidence: 0.9 },
  { target: 'business_service', names: ['business_service', 'service', 'service_name', 'it_service'], confidence: 0.85 },
  { target: 'owner', names: ['owner', 'contact', 'technical_owner', 'business_owner', 'responsible', 'custodian', 'owner_email'], confidence: 0.85 },
  { target: 'support_group', names: ['support_team', 'team', 'resolver_group', 'managed_by_group'], confidence: 0.8 },
  { target: 'criticality', names: ['criticality', 'business_criticality', 'importance', 'sla', 'tier_criticality'], confidence: 0.9 },
  { target: 'location', names: ['location', 'data_center', 'room', 'building', 'city', 'region'], confidence: 0.85 },
  { target: 'operational_status', names: ['operational_status', 'status', 'state', 'opstatus', 'operational_state'], confidence: 0.85 },
  { target: 'lifecycle_status', names: ['lifecycle_status', 'lifecycle', 'hardware_status', 'lifecycle_stage', 'life_cycle_stage'], confidence: 0.9 },
  { target: 'manufacturer', names: ['manufacturer', 'vendor', 'make', 'hw_vendor'], confidence: 0.9 },
  { target: 'model', names: ['model', 'hardware_model', 'model_name', 'model_number'], confidence: 0.85 },
  { target: 'cost_center', names: ['cost_center', 'costcenter', 'cost_centre', 'cost_code'], confidence: 0.95 },
  { target: 'tags', names: ['tags', 'labels', 'tag_list'], confidence: 0.9 },
  { target: 'virtualization_host', names: ['esx_host', 'esxi_host', 'hypervisor', 'vm_host', 'physical_host', 'host_server', 'parent_host', 'virtualization_host', 'vmhost', 'virtual_host'], confidence: 0.9 },
  { target: 'cluster', names: ['cluster', 'cluster_name', 'vm_cluster', 'esx_cluster', 'host_cluster'], confidence: 0.9 },
];

/** Column names that identify each source system; a table's score is the share it carries. */
export const SIGNATURES: Record<Exclude<SourceSystem, 'generic' | 'netbox'>, string[]> = {
  servicenow: ['sys_id', 'sys_class_name', 'sys_updated_on', 'sys_created_on', 'sys_created_by', 'sys_updated_by', 'sys_mod_count', 'sys_domain', 'sys_domain_path', 'sys_class_path', 'install_status', 'operational_status', 'assignment_group', 'used_for', 'discovery_source', 'first_discovered', 'last_discovered', 'attested', 'skip_sync', 'owned_by', 'managed_by', 'support_group', 'connection_strength', 'percent_outage'],
  azure_migrate: ['time_slot', 'source_server_name', 'source_ip', 'source_application', 'source_process', 'destination_server_name', 'destination_ip', 'destination_application', 'destination_process', 'destination_port', 'memory_in_mb', 'os_architecture', 'number_of_disks', 'disk_1_size_in_gb', 'ip_addresses', 'cores', 'mac_addresses'],
  aws_migration_factory: ['wave_name', 'app_name', 'aws_region', 'aws_accountid', 'server_name', 'server_os_family', 'server_os_version', 'server_fqdn', 'server_tier', 'server_environment', 'r_type', 'subnet_ids', 'securitygroup_ids', 'instance_type', 'tenancy', 'subnet_ids_test', 'securitygroup_ids_test'],
  rvtools: ['vm', 'powerstate', 'template', 'cpus', 'memory', 'nics', 'disks', 'provisioned_mb', 'in_use_mb', 'provisioned_mib', 'in_use_mib', 'host', 'cluster', 'datacenter', 'os_according_to_the_configuration_file', 'os_according_to_the_vm_ware_tools', 'vm_id', 'vm_uuid', 'dns_name', 'primary_ip_address', 'annotation', 'resource_pool', 'folder', 'vi_sdk_server', 'config_status', 'connection_state', 'guest_state', 'heartbeat', 'network_1'],
};

/** Synonyms by their name in the common vocabulary (words joined by "_"). */
export const SYNONYMS_BY_WORDS = new Map<string, Synonym[]>();
/** The same by the sorted set of words, for headers that say the words in another order ("adresse IP"). */
export const SYNONYMS_BY_WORD_SET = new Map<string, Synonym[]>();
for (const synonym of SYNONYMS) {
  for (const name of synonym.names) {
    const words = normaliseWords(name.split('_'));
    for (const [index, key] of [[SYNONYMS_BY_WORDS, words.join('_')], [SYNONYMS_BY_WORD_SET, [...words].sort().join('_')]] as const) {
      const list = index.get(key) ?? [];
      if (!list.includes(synonym)) list.push(synonym);
      index.set(key, list);
    }
  }
}
