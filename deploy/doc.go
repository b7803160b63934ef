// Package deploy holds what runs next to walletgate rather than in it: the Grafana dashboard
// (grafana/walletgate.json) and the Prometheus alert rules (prometheus/alerts.yml, with promtool unit tests in
// prometheus/alerts_test.yml). It has no code; its tests check that every metric and label those files query is
// one walletgate exposes, so a renamed metric cannot leave a dashboard panel empty or an alert silent.
package deploy
