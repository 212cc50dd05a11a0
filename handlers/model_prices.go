package handlers

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"oneapi/views"
)

// modelPrices is GET /pricing: every model the viewer's group can reach,
// with its ratios and what they come to per 1M tokens in US dollars, group
// ratio included. Admins may look at another group (?group=).
func (h *Handler) modelPrices(c echo.Context) error {
	u := h.currentUser(c)
	group := u.GroupName
	routes, opts := h.state.Routes(), h.state.Options()
	var groups []string
	if u.Role >= roleAdmin {
		for g := range opts.GroupRatio {
			groups = append(groups, g)
		}
		if !slices.Contains(groups, group) {
			groups = append(groups, group)
		}
		slices.Sort(groups)
		if g := c.QueryParam("group"); g != "" {
			if !slices.Contains(groups, g) {
				return echo.NewHTTPError(http.StatusNotFound, "no such group")
			}
			group = g
		}
	}
	perUnit := opts.QuotaPerUnit
	usdPer1M := func(ratio float64) float64 {
		if perUnit <= 0 {
			return 0
		}
		return ratio * 1e6 / perUnit // a ratio is quota per token
	}
	v := views.ModelPricesView{Layout: h.layout(c, "Model prices"), Group: group, Groups: groups}
	for _, m := range routes.Models(group) {
		p, priced := opts.Price(m, group, 0)
		in := p.Model * p.Group
		v.Rows = append(v.Rows, views.ModelPriceRow{
			Model: m, Priced: priced, Ratio: p.Model, CompletionRatio: p.Completion, GroupRatio: p.Group,
			InputUSD: usdPer1M(in), OutputUSD: usdPer1M(in * p.Completion), CachedUSD: usdPer1M(in * p.CacheRead),
		})
	}
	return render(c, http.StatusOK, views.ModelPricesPage(v))
}
