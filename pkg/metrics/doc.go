// Package metrics exports what servicebus does as Prometheus metrics, on a
// prometheus.Registerer the user passes (never the global default unless
// that is what is passed), and serves them with the health and readiness
// endpoints (Handler, Serve).
//
// # What is measured, and how
//
// Counters the packages keep anyway (the agent's router.Stats, its brokers'
// states, a sender's broker status, udplog.Server.Stats) are read when
// Prometheus scrapes: they cost nothing between scrapes. What only a hot
// path sees (the outcome and latency of each call, send, ping and publish
// attempt, each health probe) comes from observer hooks (rpc.Observer,
// failover.Observer, router.Config.OnProbe) that are nil, a single nil check, while metrics
// are off. Label values are bounded: brokers come from the config, services
// from the code that calls them, outcomes, reasons and error codes from
// closed lists. docs/metrics.md lists every metric.
//
// # Use
//
// The root package wires all of it when servicebus.Config.Registerer or
// metrics_addr is set. By hand:
//
//	m, err := metrics.New(registry, metrics.Options{})
//	scfg.Observer = m.SenderObserver()          // before rpc.NewSender
//	rcfg.OnProbe = m.ProbeFunc(metrics.RoleAgent) // before router.NewAgent
//	m.AddAgent(agent)                            // before agent.Start
//	m.AddSender(sender)
//	pcfg.Observer = m.PublisherObserver()       // before failover.NewPublisher
//	m.AddPublisher(publisher)
//
// New may be called again with the same registry: it reuses the metrics
// already registered there, so an agent and the sender its services call
// share them.
//
// # Nomenclature
//
//	| servicebus              | metric prefix             |
//	| broker path (agent)     | servicebus_broker_*{role="agent"}  |
//	| broker path (sender)    | servicebus_broker_*{role="sender"} |
//	| failover.Publisher path | servicebus_broker_*{role="publisher"} |
//	| publish attempt         | servicebus_publish_*      |
//	| Sender.Call/Send/Ping   | servicebus_sender_*       |
//	| Agent                   | servicebus_agent_*, Watermill's servicebus_handler_execution_time_seconds |
//	| udplog collector        | servicebus_udplog_*       |
package metrics
