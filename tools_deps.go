//go:build never

package servicebus

import (
	_ "github.com/ThreeDotsLabs/watermill"
	_ "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	_ "github.com/rabbitmq/amqp091-go"
	_ "github.com/sirupsen/logrus"
	_ "go.uber.org/goleak"
	_ "gopkg.in/yaml.v3"
)
