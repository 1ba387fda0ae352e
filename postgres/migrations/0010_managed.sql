-- Resources config files own (hookd.ManagedStore). key is the id of tenants,
-- endpoints and API keys, the name of event types, sources and rules;
-- tenant_id is '' for tenants and superadmin keys; owner is the file.
CREATE TABLE managed_resources (
    kind      text NOT NULL,
    tenant_id text NOT NULL,
    key       text NOT NULL,
    name      text NOT NULL,
    owner     text NOT NULL,
    PRIMARY KEY (kind, tenant_id, key)
);
CREATE INDEX managed_resources_owner ON managed_resources (owner);

-- A resource that goes away takes its row with it, however it goes (the
-- API, a reconcile, its tenant's deletion by cascade), so a resource made
-- later under the same key is not taken for a managed one. Triggers rather
-- than code in each Delete method: deletions happen in several places and
-- by cascade. Only deletions, an endpoint's soft deletion and a key's
-- revocation fire them; no statement of the delivery or receiving paths
-- does.
CREATE FUNCTION hookd_managed_tenant_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM managed_resources WHERE tenant_id = OLD.id OR (kind = 'tenant' AND tenant_id = '' AND key = OLD.id);
    RETURN NULL;
END $$;

-- For tables keyed by (tenant_id, name); TG_ARGV[0] is the kind.
CREATE FUNCTION hookd_managed_name_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM managed_resources WHERE kind = TG_ARGV[0] AND tenant_id = OLD.tenant_id AND key = OLD.name;
    RETURN NULL;
END $$;

-- For tables keyed by id (API keys: tenant_id NULL for superadmin keys).
CREATE FUNCTION hookd_managed_id_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM managed_resources WHERE kind = TG_ARGV[0] AND tenant_id = coalesce(OLD.tenant_id, '') AND key = OLD.id;
    RETURN NULL;
END $$;

CREATE TRIGGER managed_tenant_gone AFTER DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION hookd_managed_tenant_gone();
CREATE TRIGGER managed_event_type_gone AFTER DELETE ON event_types
    FOR EACH ROW EXECUTE FUNCTION hookd_managed_name_gone('event_type');
CREATE TRIGGER managed_source_gone AFTER DELETE ON sources
    FOR EACH ROW EXECUTE FUNCTION hookd_managed_name_gone('source');
CREATE TRIGGER managed_rule_gone AFTER DELETE ON rules
    FOR EACH ROW EXECUTE FUNCTION hookd_managed_name_gone('rule');
CREATE TRIGGER managed_endpoint_gone AFTER UPDATE OF deleted_at ON endpoints
    FOR EACH ROW WHEN (NEW.deleted_at IS NOT NULL) EXECUTE FUNCTION hookd_managed_id_gone('endpoint');
CREATE TRIGGER managed_key_gone AFTER UPDATE OF revoked_at ON api_keys
    FOR EACH ROW WHEN (NEW.revoked_at IS NOT NULL) EXECUTE FUNCTION hookd_managed_id_gone('key');
