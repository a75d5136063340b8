# The public HTTPS load balancer in front of the web service: TLS 1.2/1.3 policy, HTTP redirected
# to HTTPS, invalid headers dropped, access logs to the log bucket, deletion protection.

resource "aws_lb" "main" {
  #checkov:skip=CKV2_AWS_28:No WAF by default: a web ACL with managed rule groups adds about 8-10 USD a month to a ~20 USD load balancer, and the common rule set blocks request bodies over 8 KB, i.e. the admin's DICOM uploads, unless tuned. Attach a tuned web ACL (aws_wafv2_web_acl_association) if the exposure grows.
  name                       = "${local.name}-alb"
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = local.public_subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection
  idle_timeout               = var.alb_idle_timeout_seconds
  desync_mitigation_mode     = "defensive"

  access_logs {
    bucket  = aws_s3_bucket.logs.id
    prefix  = "alb"
    enabled = true
  }

  depends_on = [aws_s3_bucket_policy.logs]
}

resource "aws_lb_target_group" "web" {
  #checkov:skip=CKV_AWS_378:TLS terminates at the load balancer; the hop to gunicorn stays inside the VPC's private subnets, and TLS there would need certificates inside the container.
  name                 = "${local.name}-web"
  port                 = 8000
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = local.vpc_id
  deregistration_delay = 30

  health_check {
    path                = "/healthz"
    matcher             = "200"
    interval            = 30
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.main.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.web.arn
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.main.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }
}
