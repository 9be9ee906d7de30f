from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("django_bff", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="usersession",
            name="user",
            field=models.CharField(blank=True, db_index=True, default="", max_length=255),
        ),
    ]
