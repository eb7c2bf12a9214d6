// Package dashboard serves the node's built-in dashboard: one
// self-contained HTML page, embedded in the binary, that polls the admin
// server's GET /dashboard/data every two seconds and draws latency per
// client region, TCP and origin RTT, hit ratio, traffic, DNS answers,
// health and BGP peers with inline SVG charts of its own.
//
// The page loads nothing from anywhere: no external script, style sheet,
// font or image, and it carries no URL at all (the SVG namespace is read
// from an inline svg element). Its Content-Security-Policy allows only
// the page's own inline script and style, by hash, and connections to
// its own origin.
//
// The edge package mounts Handler at GET /dashboard and GET /dashboard/.
// The page addresses the data by the absolute path /dashboard/data, so
// both work. Package dashboardtest loads the page in headless Chromium
// for tests.
package dashboard
