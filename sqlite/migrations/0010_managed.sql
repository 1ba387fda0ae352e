-- Resources config files own (hookd.ManagedStore). key is the id of tenants,
-- endpoints and API keys, the name of event types, sources and rules;
-- tenant_id is '' for tenants and superadmin keys; owner is the file.
CREATE TABLE managed_resources (
    kind      TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    key       TEXT NOT NULL,
    name      TEXT NOT NULL,
    owner     TEXT NOT NULL,
    PRIMARY KEY (kind, tenant_id, key)
) WITHOUT ROWID;
CREATE INDEX managed_resources_owner ON managed_resources (owner);

-- A resource that goes away takes its row with it, however it goes (the
-- API, a reconcile, its tenant's deletion), so a resource made later under
-- the same key is not taken for a managed one. Triggers rather than code in
-- each Delete method: deletions happen in several places and by cascade.
-- Only deletions, an endpoint's soft deletion and a key's revocation fire
-- them; no statement of the delivery or receiving paths does.
CREATE TRIGGER managed_tenant_gone AFTER DELETE ON tenants BEGIN
    DELETE FROM managed_resources WHERE tenant_id = OLD.id OR (kind = 'tenant' AND tenant_id = '' AND key = OLD.id);
END;
CREATE TRIGGER managed_event_type_gone AFTER DELETE ON event_types BEGIN
    DELETE FROM managed_resources WHERE kind = 'event_type' AND tenant_id = OLD.tenant_id AND key = OLD.name;
END;
CREATE TRIGGER managed_endpoint_gone AFTER UPDATE OF deleted_at ON endpoints WHEN NEW.deleted_at IS NOT NULL BEGIN
    DELETE FROM managed_resources WHERE kind = 'endpoint' AND tenant_id = OLD.tenant_id AND key = OLD.id;
END;
CREATE TRIGGER managed_source_gone AFTER DELETE ON sources BEGIN
    DELETE FROM managed_resources WHERE kind = 'source' AND tenant_id = OLD.tenant_id AND key = OLD.name;
END;
CREATE TRIGGER managed_rule_gone AFTER DELETE ON rules BEGIN
    DELETE FROM managed_resources WHERE kind = 'rule' AND tenant_id = OLD.tenant_id AND key = OLD.name;
END;
CREATE TRIGGER managed_key_gone AFTER UPDATE OF revoked_at ON api_keys WHEN NEW.revoked_at IS NOT NULL BEGIN
    DELETE FROM managed_resources WHERE kind = 'key' AND tenant_id = coalesce(OLD.tenant_id, '') AND key = OLD.id;
END;
