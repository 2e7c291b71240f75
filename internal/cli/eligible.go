package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/elevate-gitops/elevate/internal/brokerapi"
	"github.com/elevate-gitops/elevate/internal/eligibility"
	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/request"
)

// lookupTimeout bounds the look-up of what else may be requested: past it,
// the broker's own refusal is shown.
const lookupTimeout = 10 * time.Second

// whatMayBeRequested turns the broker's not_eligible refusal into what the
// person may request in that account, from eligibility.yaml at the default
// branch, and the command to request it. Any other error, and a refusal
// whose look-up fails, come back as they are.
func whatMayBeRequested(ctx context.Context, repo func(context.Context) (*githubapi.Repo, error), err error, account, role, id string) error {
	var be *BrokerError
	if errors.As(err, &be) && be.Code == brokerapi.CodeUseSSO {
		// The broker holds no permission-set credentials: the person's own
		// AWS SSO profile signs in.
		if account == "" || role == "" {
			return err
		}
		profile := "elevate-" + account + "-" + strings.TrimPrefix(role, request.PermissionSetPrefix)
		return &BrokerError{Status: be.Status, Code: be.Code, Message: fmt.Sprintf("%s; with the AWS CLI: aws sso login --profile %s, then AWS_PROFILE=%[2]s (a profile with sso_session, sso_account_id and sso_role_name %s)",
			be.Message, profile, strings.TrimPrefix(role, request.PermissionSetPrefix))}
	}
	if !errors.As(err, &be) || be.Code != brokerapi.CodeNotEligible || repo == nil {
		return err
	}
	if account == "" {
		if strings.Count(id, "/") != 2 {
			return err
		}
		account, _, _ = strings.Cut(id, "/")
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	msg, lookupErr := mayRequest(ctx, repo, account, role)
	if lookupErr != nil || msg == "" {
		return err
	}
	return &BrokerError{Status: be.Status, Code: be.Code, Message: msg}
}

// mayRequest says which roles the caller may request in account, or ""
// when the policy at the default branch would allow role after all (the
// broker knows better).
func mayRequest(ctx context.Context, repoFn func(context.Context) (*githubapi.Repo, error), account, role string) (string, error) {
	repo, err := repoFn(ctx)
	if err != nil {
		return "", err
	}
	me, err := repo.Me(ctx)
	if err != nil {
		return "", err
	}
	_, sha, err := repo.DefaultBranch(ctx)
	if err != nil {
		return "", err
	}
	data, err := repo.FileAt(ctx, eligibility.File, sha, eligibility.MaxSize)
	if err != nil {
		return "", err
	}
	policy, err := eligibility.Parse(eligibility.File, data)
	if err != nil {
		return "", err
	}
	login := me.GetLogin()
	roles, err := eligibleRoles(ctx, policy, login, account, eligibility.NewMemo(repo))
	if err != nil {
		return "", err
	}
	if slices.Contains(roles, role) {
		return "", nil
	}
	if len(roles) == 0 {
		return fmt.Sprintf("%s may request nothing in %s under %s on the default branch: ask its code owners for a rule", login, account, eligibility.File), nil
	}
	not := ""
	if role != "" {
		not = ", not " + role
	}
	return fmt.Sprintf("%s may request %s in %s%s; ask with: elevate request --account %s --role %s --duration 1h --reason \"…\"",
		login, strings.Join(roles, ", "), account, not, account, roles[0]), nil
}

// eligibleRoles lists, sorted, the roles of account that login may request
// (permission sets as ps/NAME): each some rule names for the account, kept
// when the policy's own Eligible says yes.
func eligibleRoles(ctx context.Context, p *eligibility.Policy, login, account string, members eligibility.Membership) ([]string, error) {
	var named []request.Target
	for _, r := range p.Rules {
		if !slices.Contains(r.Accounts, account) {
			continue
		}
		for _, role := range r.Roles {
			named = append(named, request.Target{Account: account, Role: role})
		}
		for _, ps := range r.PermissionSets {
			named = append(named, request.Target{Account: account, PermissionSet: ps})
		}
	}
	var roles []string
	for _, t := range named {
		if slices.Contains(roles, t.Qualified()) {
			continue
		}
		ok, err := p.Eligible(ctx, login, t, members)
		if err != nil {
			return nil, err
		}
		if ok {
			roles = append(roles, t.Qualified())
		}
	}
	slices.Sort(roles)
	return roles, nil
}
