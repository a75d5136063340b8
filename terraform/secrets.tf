# Secrets Manager. The Django secret key is generated here; the database master password is
# generated and rotated by RDS itself (manage_master_user_password in rds.tf), so no password
# ever appears in a tfvars file. Containers receive both through `secrets` (valueFrom), never as
# plain environment variables. Note: the generated key is stored in the Terraform state, so keep
# the state in an encrypted, private backend (see versions.tf).

resource "random_password" "django_secret_key" {
  length           = 64
  special          = true
  override_special = "!#%&()*+,-./:;<=>?@[]^_{|}~"
}

resource "aws_secretsmanager_secret" "django_secret_key" {
  #checkov:skip=CKV2_AWS_57:Rotating SECRET_KEY needs a rotation Lambda and SECRET_KEY_FALLBACKS coordination in the app (it signs sessions and storage URLs); rotate by tainting random_password.django_secret_key and redeploying.
  name                    = "${local.name}/django-secret-key"
  description             = "Django SECRET_KEY of ${local.name} (DJANGO_SECRET_KEY)"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "django_secret_key" {
  secret_id     = aws_secretsmanager_secret.django_secret_key.id
  secret_string = random_password.django_secret_key.result
}

locals {
  # RDS creates this secret (JSON with "username" and "password") and rotates it every 7 days.
  db_master_secret_arn = aws_db_instance.main.master_user_secret[0].secret_arn
}
