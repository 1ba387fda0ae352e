package hookd

import (
	"regexp"
	"time"
)

// DefaultTenant is the id of the tenant that exists from the first start.
const DefaultTenant = "default"

// Tenant is an isolated set of resources: a team, a customer site, an
// environment. Its ID is a slug used in URLs.
type Tenant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// TenantUpdate holds the fields to change; nil means unchanged.
type TenantUpdate struct {
	Name *string `json:"name"`
}

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Validate returns EINVALID when the tenant's id is not a slug (lower-case
// letters, digits, '-' and '_', at most 63 characters).
func (t *Tenant) Validate() error {
	if !slugRE.MatchString(t.ID) {
		return Errorf(EINVALID, "Tenant id must be 1-63 lower-case letters, digits, '-' or '_'.")
	}
	if len(t.Name) > 200 {
		return Errorf(EINVALID, "Tenant name must be at most 200 characters.")
	}
	return nil
}
